"""Metrics on hand-made maps and toy models whose answers are known in advance."""

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

import camlib.metrics as mt

pytestmark = pytest.mark.usefixtures("one_thread")


def box_map(box, shape=(20, 30), value=1.0):
    m = np.zeros(shape)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = value
    return m


# ---------------------------------------------------------------- boxes ----


def test_box_from_a_box_map_is_the_box():
    box = (4, 3, 11, 9)  # half-open: columns 4..10, rows 3..8
    m = box_map(box)
    assert mt.box_from_map(m) == box
    assert mt.iou(mt.box_from_map(m), box) == 1.0
    assert mt.localization_accuracy(m[None], [box]) == 1.0
    assert mt.box_mask(box, m.shape).sum() == 7 * 6 and (mt.box_mask(box, m.shape) == (m > 0)).all()


def test_largest_connected_component_wins():
    m = box_map((0, 0, 3, 3), value=1.0) + box_map(
        (10, 5, 20, 15), value=0.5
    )  # small peak, big plateau
    assert mt.box_from_map(m, 0.2) == (10, 5, 20, 15)
    assert mt.box_from_map(m, 0.6) == (
        0,
        0,
        3,
        3,
    )  # above 60% of the max only the small blob is left


def test_eight_connectivity_joins_diagonal_pixels():
    m = np.zeros((6, 6))
    m[1, 1] = m[2, 2] = m[3, 3] = 1.0  # a diagonal line: one 8-connected component
    m[0, 5] = 1.0
    assert mt.box_from_map(m) == (1, 1, 4, 4)


def test_threshold_is_a_fraction_of_the_max():
    m = np.array([[0.0, 0.1, 0.3, 1.0, 0.25, 0.0]])
    assert mt.box_from_map(m, 0.2) == (2, 0, 5, 1)  # values > 0.2: columns 2, 3, 4
    assert mt.box_from_map(m, 0.5) == (3, 0, 4, 1)


def test_empty_map_gives_no_box_and_a_miss():
    assert mt.box_from_map(np.zeros((5, 5))) is None
    assert mt.box_from_map(-np.ones((5, 5))) is None
    assert mt.box_from_map(np.ones((5, 5)), fraction=1.0) is None
    assert mt.iou(None, (0, 0, 5, 5)) == 0.0
    assert mt.localization_accuracy(np.zeros((1, 5, 5)), [(0, 0, 5, 5)]) == 0.0


def test_iou_known_values():
    assert mt.iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert mt.iou((0, 0, 2, 2), (2, 0, 4, 2)) == 0.0  # touching half-open boxes do not overlap
    assert mt.iou((0, 0, 4, 4), (0, 0, 2, 4)) == 0.5
    assert mt.iou((1, 1, 1, 1), (1, 1, 1, 1)) == 0.0  # empty boxes


def test_localization_accuracy_with_several_truth_boxes():
    maps = np.stack([box_map((0, 0, 10, 10)), box_map((0, 0, 10, 10)), box_map((0, 0, 10, 4))])
    boxes = [
        [(20, 10, 30, 20), (0, 0, 10, 10)],
        (0, 0, 10, 10),
        (0, 0, 10, 10),
    ]  # 3rd: IoU 0.4, a miss
    assert mt.localization_accuracy(maps, boxes, per_image=True).tolist() == [True, True, False]
    assert mt.localization_accuracy(maps, boxes) == pytest.approx(2 / 3)
    assert mt.localization_accuracy(maps, boxes, iou_threshold=0.4) == 1.0


def test_max_box_acc_picks_the_right_threshold():
    # The object is 1.0, a halo around it 0.25: thresholds >= 0.25 (map > tau) box the object.
    obj = (5, 5, 15, 15)
    m = box_map((2, 2, 18, 18), value=0.25)
    m[5:15, 5:15] = 1.0
    maps = np.stack([m, m * 10 - 3])  # min-max normalized: scale and offset do not matter
    result = mt.max_box_acc(maps, [obj, obj], thresholds=np.linspace(0, 0.9, 10))
    assert result.curve.tolist() == [
        0,
        0,
        0,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
    ]  # the halo box has IoU 100/256 < 0.5
    assert result.accuracy == 1.0 and result.threshold == pytest.approx(0.3)
    default = mt.max_box_acc(maps, [obj, obj])
    assert len(default.thresholds) == 100 and default.threshold == 0.25 and default.curve[24] == 0


def test_largest_region_boxes_one_labelling_equals_plane_by_plane():
    # hand-made planes: two regions of different size, a tie (the first in row-major order
    # wins), a region that touches the next plane's (no link across planes), an empty plane
    a = np.zeros((4, 6, 6), dtype=bool)
    a[0, 0:2, 0:2] = True  # 4 px
    a[0, 3:6, 2:5] = True  # 9 px: the largest
    a[1, 0, 4:6] = True  # 2 px, first in row-major order
    a[1, 4, 0:2] = True  # 2 px
    a[2, 1:5, 1] = True  # diagonal neighbour of the next line: one 8-connected region
    a[2, 5, 2] = True
    boxes = mt.largest_region_boxes(a)
    assert boxes == [(2, 3, 5, 6), (4, 0, 6, 1), (1, 1, 3, 6), None]
    rng = np.random.default_rng(0)
    noisy = rng.random((30, 20, 20)) > 0.6  # many regions per plane
    assert mt.largest_region_boxes(noisy) == [mt.largest_region_box(k) for k in noisy]
    assert mt.largest_region_boxes(np.zeros((3, 4, 4), dtype=bool)) == [None, None, None]


def test_box_hits_equal_the_box_protocol_at_every_threshold():
    rng = np.random.default_rng(1)
    small = torch.from_numpy(rng.random((40, 1, 8, 8)) ** 3)
    maps = torch.nn.functional.interpolate(small, size=32, mode="bilinear")[:, 0].numpy()
    maps[3] = 0  # an all-zero map: no box at any threshold
    maps[4] -= 2  # an all-negative map: no box either
    boxes = [tuple(int(v) for v in (x, y, x + 14, y + 12)) for x, y in rng.integers(0, 18, (40, 2))]
    taus = np.arange(20) / 20
    hits = mt.box_hits(maps, boxes, taus)
    assert hits.shape == (20, 40) and hits.dtype == bool
    by_tau = [mt.localization_accuracy(maps, boxes, t, per_image=True) for t in taus]
    assert (hits == np.array(by_tau)).all()
    assert not hits[:, 3].any() and not hits[:, 4].any()
    assert 0 < hits.sum() < hits.size  # the test sees both hits and misses


# ------------------------------------------------------------- pointing ----


def test_pointing_game_hit_miss_and_tolerance():
    masks = np.zeros((3, 10, 10), dtype=bool)
    masks[:, 2:5, 2:5] = True
    maps = np.zeros((3, 10, 10))
    maps[0, 3, 3] = 1.0  # inside
    maps[1, 3, 8] = 1.0  # 4 px right of the mask's last column (4)
    maps[2] = 0.5  # constant: points nowhere
    assert mt.pointing_game(maps, masks, per_image=True).tolist() == [True, False, False]
    assert mt.pointing_game(maps, masks, tolerance=4, per_image=True).tolist() == [
        True,
        True,
        False,
    ]
    assert mt.pointing_game(maps, masks, tolerance=3.9, per_image=True).tolist() == [
        True,
        False,
        False,
    ]


def test_energy_pointing_game():
    box = (4, 3, 11, 9)
    m = box_map(box)
    assert mt.energy_pointing_game(m[None], [box]) == 1.0
    assert mt.energy_pointing_game(m[None], mt.box_mask(box, m.shape)[None]) == 1.0
    half = m + box_map((20, 10, 27, 16))  # the same energy outside
    assert mt.energy_pointing_game(half[None], [box]) == pytest.approx(0.5)
    assert mt.energy_pointing_game(half[None], [[box, (20, 10, 27, 16)]]) == pytest.approx(1.0)
    assert mt.energy_pointing_game(np.zeros((1, 20, 30)), [box]) == 0.0
    with pytest.raises(ValueError, match="non-negative"):
        mt.energy_pointing_game(-m[None], [box])


# ------------------------------------------------- deletion and insertion ----


class MeanRed(nn.Module):
    """Two classes with logits (0, 4 * mean red): p(class 1) = sigmoid(4 * mean red)."""

    def forward(self, x):
        r = x[:, 0].mean(dim=(1, 2))
        return torch.stack([torch.zeros_like(r), 4 * r], dim=1)


def test_deletion_curve_on_a_toy_model():
    # 4x4 image: red is 1 on 4 pixels, 0 elsewhere; the map ranks those 4 first.
    x = torch.zeros(1, 3, 4, 4)
    x[0, 0, :2, :2] = 1.0
    saliency = torch.zeros(1, 4, 4)
    saliency[0, :2, :2] = torch.tensor([[4.0, 3.0], [2.0, 1.0]])
    result = mt.deletion_auc(MeanRed(), x, saliency, target=1, steps=16, baseline=0.0)
    removed_red = np.minimum(np.arange(17), 4)  # one pixel per step, red pixels first
    expected = 1 / (1 + np.exp(-4 * (4 - removed_red) / 16))
    assert np.allclose(result.curves[0], expected)
    assert np.allclose(result.fractions, np.arange(17) / 16)
    assert result.auc == pytest.approx(np.trapezoid(expected, np.arange(17) / 16))
    # the default baseline is each image's mean colour (red 1/4): 4 pixels per step, red ones first
    mean_colour = mt.deletion_auc(MeanRed(), x, saliency, target=1, steps=4)
    mean_red = np.array([4, 1, 2, 3, 4]) / 16  # red pixels become 1/4, then the zeros do
    assert np.allclose(mean_colour.curves[0], 1 / (1 + np.exp(-4 * mean_red)))


def test_insertion_curve_and_batching_do_not_change_the_answer():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 8, 8, generator=g)
    maps = torch.rand(3, 8, 8, generator=g)
    a = mt.insertion_auc(MeanRed(), x, maps, target=[1, 1, 0], steps=8, batch_size=5)
    b = mt.insertion_auc(MeanRed(), x, maps, target=[1, 1, 0], steps=8, batch_size=100)
    assert np.allclose(a.curves, b.curves)
    end = torch.softmax(MeanRed()(x), 1)[torch.arange(3), torch.tensor([1, 1, 0])]
    start = torch.softmax(MeanRed()(mt.blur(x)), 1)[torch.arange(3), torch.tensor([1, 1, 0])]
    assert np.allclose(a.curves[:, -1], end.numpy()) and np.allclose(a.curves[:, 0], start.numpy())


def test_blur_keeps_a_constant_image():
    x = torch.full((1, 3, 9, 9), 0.7)
    assert torch.allclose(mt.blur(x), x)


def test_average_drop_and_increase_hand_computed():
    # Image 0: red 1 everywhere, map 1 on half the pixels -> E has mean red 1/2.
    # Image 1: red 1 on the left half, map 1 on the left half -> E keeps all of it: O = Y.
    x = torch.zeros(2, 3, 4, 4)
    x[0, 0] = 1.0
    x[1, 0, :, :2] = 1.0
    maps = torch.zeros(2, 4, 4)
    maps[:, :, :2] = 1.0
    result = mt.average_drop_increase(MeanRed(), x, maps, target=1)
    Y = 1 / (1 + np.exp(-np.array([4.0, 2.0])))
    O = 1 / (1 + np.exp(-np.array([2.0, 2.0])))
    assert np.allclose(result.Y, Y) and np.allclose(result.O, O)
    assert result.average_drop == pytest.approx(100 * ((Y[0] - O[0]) / Y[0] + 0) / 2)
    assert result.increase_in_confidence == 0.0
    # a map that keeps everything on a model that likes dark images raises the confidence
    result = mt.average_drop_increase(MeanRed(), x, maps, target=0)
    assert result.increase_in_confidence == 50.0 and result.average_drop == 0.0


# ---------------------------------------------------------------- SSIM ----


def test_ssim_of_constant_maps_by_hand():
    # no variance anywhere: SSIM = (2 a b + C1) / (a^2 + b^2 + C1) at every pixel
    c1 = 0.01**2
    for a, b in [(0.2, 0.2), (0.2, 0.7), (0.0, 1.0)]:
        got = mt.ssim(np.full((9, 12), a), np.full((9, 12), b))
        assert got == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), abs=1e-12)


def test_ssim_identity_symmetry_and_order():
    rng = np.random.default_rng(0)
    a, noise = rng.random((32, 32)), rng.random((32, 32))
    assert mt.ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert mt.ssim(a, noise) == pytest.approx(mt.ssim(noise, a), abs=1e-12)
    near, far = 0.9 * a + 0.1 * noise, 0.3 * a + 0.7 * noise
    assert 1 > mt.ssim(a, near) > mt.ssim(a, far) > mt.ssim(a, noise)
    assert mt.ssim(torch.tensor(a), torch.tensor(near)) == pytest.approx(mt.ssim(a, near))


def test_ssim_at_one_pixel_from_explicit_gaussian_weights():
    # away from the border the local statistics are sums over an 11 x 11 window of weights
    # w_ij proportional to exp(-(i^2 + j^2) / (2 sigma^2)), |i|, |j| <= 5 (3.5 sigma, rounded)
    rng = np.random.default_rng(1)
    a, b = rng.random((30, 30)), rng.random((30, 30))
    k = np.arange(-5, 6)
    w = np.exp(-(k[:, None] ** 2 + k[None] ** 2) / (2 * 1.5**2))
    w /= w.sum()
    for y, x in [(15, 15), (8, 20)]:
        pa, pb = a[y - 5 : y + 6, x - 5 : x + 6], b[y - 5 : y + 6, x - 5 : x + 6]
        ma, mb = (w * pa).sum(), (w * pb).sum()
        va, vb = (w * pa**2).sum() - ma**2, (w * pb**2).sum() - mb**2
        cov = (w * pa * pb).sum() - ma * mb
        c1, c2 = 0.01**2, 0.03**2
        want = (2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
        assert mt._ssim_map(a, b, 1.5, 1.0)[y, x] == pytest.approx(want, abs=1e-10)


def test_ssim_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        mt.ssim(np.zeros((4, 4)), np.zeros((4, 5)))


# -------------------------------------------------- spearman, masks, PxAP ----


def test_spearman_against_scipy():
    g = np.random.default_rng(0)
    a = g.normal(size=(7, 7))
    b = a + g.normal(size=(7, 7))
    ties = np.round(b, 0)  # many ties
    for x, y in [(a, b), (a, ties), (ties, np.round(a, 0)), (a, -a)]:
        assert mt.spearman(x, y) == pytest.approx(
            scipy.stats.spearmanr(x.ravel(), y.ravel()).statistic, abs=1e-12
        )
    assert mt.spearman(torch.tensor(a), torch.tensor(b)) == pytest.approx(mt.spearman(a, b))
    assert mt.spearman([1, 2, 3], [10, 20, 30]) == 1.0
    assert np.isnan(mt.spearman(np.zeros(5), np.arange(5)))


def test_mask_iou():
    a = np.zeros((2, 4, 4), dtype=bool)
    b = np.zeros((2, 4, 4), dtype=bool)
    a[0, :2], b[0, 1:3] = True, True  # 4 shared pixels of 12
    assert mt.mask_iou(a, b, per_image=True).tolist() == [
        pytest.approx(1 / 3),
        1.0,
    ]  # two empty masks agree
    assert mt.mask_iou(a[0], a[0]) == 1.0


def test_pxap():
    masks = np.zeros((2, 8, 8), dtype=bool)
    masks[0, 2:5, 2:6] = True
    masks[1, 4:, :] = True
    perfect = masks * 3.0 + 1.0
    assert mt.pxap(perfect, masks).ap == pytest.approx(1.0)
    inverted = mt.pxap(~masks * 1.0, masks)
    assert inverted.ap == pytest.approx(
        masks.mean()
    )  # only the threshold 0 finds the object: P = share of fg
    # a hand case: scores 0.9, 0.5 (fg), 0.7, 0.0 (bg) -> AP = 1 * 1/2 + 2/3 * 1/2
    m = np.array([[[0.9, 0.5, 0.7, 0.0]]])
    t = np.array([[[True, True, False, False]]])
    assert mt.pxap(m, t, thresholds=np.linspace(0, 1, 10001)).ap == pytest.approx(0.5 + 1 / 3)


# -------------------------------------------------------------- checks ----


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: mt.localization_accuracy(np.zeros((2, 4, 4)), [(0, 0, 1, 1)]),
            "one box, or one list of boxes, per image",
        ),
        (
            lambda: mt.localization_accuracy(np.zeros((2, 3, 4, 4)), [(0, 0, 1, 1)] * 2),
            "maps[:, t]",
        ),
        (
            lambda: mt.pointing_game(np.zeros((1, 4, 4)), np.ones((1, 8, 8), bool)),
            "camlib.upsample",
        ),
        (lambda: mt.pxap(np.zeros((1, 4, 4)), np.full((1, 4, 4), 0.5)), "threshold a map first"),
        (
            lambda: mt.deletion_auc(MeanRed(), torch.zeros(1, 3, 8, 8), torch.zeros(1, 4, 4)),
            "upsample first",
        ),
        (lambda: mt.box_from_map(np.zeros((1, 4, 4))), "pass one map, e.g. maps[0]"),
        (lambda: mt.spearman(np.zeros(3), np.zeros(4)), "same shape"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert message in str(info.value)
