"""Tests for camlib.data (ToyPets): determinism, ground truth, scenes, splits."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from camlib import data
from camlib.data import CLASSES, CUE_COLOURS, FUR_COLOURS, SCENES, ToyPets, checksum, split


@pytest.fixture(scope="module")
def scenes():
    """A few small datasets of every scene, built once."""
    return {scene: ToyPets(40, scene=scene, seed=7, cue_agree=0.5) for scene in SCENES}


def same(a, b):
    return all(
        torch.equal(getattr(a, k), getattr(b, k))
        for k in ("images", "labels", "masks", "parts", "cue_labels", "cue_masks")
    )


def boxes_apart(a, b, gap):
    return a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]


def assert_tight(o, size):
    """The box holds every mask pixel and each of its edge rows and columns touches the mask."""
    x0, y0, x1, y1 = o.box
    m = o.mask
    assert all(type(v) is int for v in o.box)
    assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size
    assert m[y0:y1, x0:x1].sum() == m.sum() > 0
    assert m[y0, x0:x1].any() and m[y1 - 1, x0:x1].any()
    assert m[y0:y1, x0].any() and m[y0:y1, x1 - 1].any()
    assert o.part.any() and not (o.part & ~m).any()


@pytest.mark.parametrize("scene", SCENES)
def test_same_arguments_give_same_tensors_and_prefixes_agree(scene):
    small, again = ToyPets(6, scene, seed=3), ToyPets(6, scene, seed=3)
    big = ToyPets(30, scene, seed=3)
    assert same(small, again)
    for k in ("images", "labels", "masks", "parts", "cue_labels", "cue_masks"):
        assert torch.equal(getattr(small, k), getattr(big, k)[:6]), k
    for i in range(6):
        assert [o.box for o in small.objects(i)] == [o.box for o in big.objects(i)]
        assert all(
            torch.equal(a.mask, b.mask) and torch.equal(a.part, b.part)
            for a, b in zip(small.objects(i), big.objects(i))
        )


def test_different_seed_gives_different_images():
    a, b = ToyPets(8, seed=0), ToyPets(8, seed=1)
    assert not torch.equal(a.images, b.images)
    assert checksum(a) != checksum(b)
    assert checksum(a) == checksum(ToyPets(8, seed=0)) and len(checksum(a)) == 64


def test_images_are_quantized_float_in_range(scenes):
    for ds in scenes.values():
        assert ds.images.dtype == torch.float32 and ds.images.shape == (40, 3, 64, 64)
        assert ds.images.min() >= 0 and ds.images.max() <= 1
        assert torch.equal(torch.round(ds.images * 255) / 255, ds.images)
        assert len(ds) == 40
        assert ds.masks.shape == ds.parts.shape == ds.cue_masks.shape == (40, 64, 64)
        assert ds.masks.dtype == ds.parts.dtype == ds.cue_masks.dtype == torch.bool
        image, label = ds[5]
        assert torch.equal(image, ds.images[5]) and type(label) is int and label == ds.labels[5]


def test_labels_in_range_and_balanced():
    labels = ToyPets(400, seed=11).labels
    assert labels.dtype == torch.long and labels.min() >= 0 and labels.max() < len(CLASSES)
    counts = torch.bincount(labels, minlength=4)
    assert counts.min() >= 90 and counts.max() <= 110, counts


def test_boxes_are_tight_and_parts_inside_masks(scenes):
    for _scene, ds in scenes.items():
        for i in range(len(ds)):
            objects = ds.objects(i)
            union = torch.zeros(64, 64, dtype=torch.bool)
            part_union = torch.zeros(64, 64, dtype=torch.bool)
            for o in objects:
                assert_tight(o, 64)
                x0, y0, x1, y1 = o.box
                assert o.name == CLASSES[o.label]
                assert x0 <= o.center[0] <= x1 and y0 <= o.center[1] <= y1
                union |= o.mask
                part_union |= o.part
            assert torch.equal(union, ds.masks[i]) and torch.equal(part_union, ds.parts[i])


def test_single_animal_fully_inside_the_image(scenes):
    for scene in ("single", "biased"):
        ds = scenes[scene]
        for i in range(len(ds)):
            (o,) = ds.objects(i)
            assert o.label == ds.labels[i]
            assert o.box[0] >= 1 and o.box[1] >= 1 and o.box[2] <= 63 and o.box[3] <= 63


def test_multi_scenes_hold_several_animals_of_one_class(scenes):
    ds, counts = scenes["multi"], set()
    for i in range(len(ds)):
        objects = ds.objects(i)
        counts.add(len(objects))
        assert {o.label for o in objects} == {int(ds.labels[i])}
        for k, a in enumerate(objects):
            assert all(boxes_apart(a.box, b.box, 2) for b in objects[k + 1 :])
    assert counts == {2, 3}


def test_pair_scenes_hold_two_different_classes(scenes):
    ds = scenes["pair"]
    for i in range(len(ds)):
        a, b = ds.objects(i)
        assert a.label != b.label and a.label == ds.labels[i]
        assert boxes_apart(a.box, b.box, 2) and not (a.mask & b.mask).any()


@pytest.mark.parametrize("agree", [1.0, 0.0])
def test_biased_cue_follows_cue_agree(agree):
    ds = ToyPets(24, "biased", seed=5, cue_agree=agree)
    assert (ds.cue_labels == ds.labels).all() if agree else (ds.cue_labels != ds.labels).all()
    assert ds.cue_labels.min() >= 0 and ds.cue_labels.max() < 4


def test_biased_cue_square_is_where_the_cue_is(scenes):
    ds = scenes["biased"]
    agree = (ds.cue_labels == ds.labels).float().mean()
    assert 0.2 < agree < 0.8  # cue_agree=0.5
    x0, y0, x1, y1 = data._cue_box(64)
    assert (x0, y0, x1 - x0, y1 - y0) == (2, 2, 12, 12)
    for i in range(len(ds)):
        cue = ds.cue_masks[i]
        assert cue[y0:y1, x0:x1].all() and cue.sum() == (x1 - x0) * (y1 - y0)
        colour = torch.from_numpy(CUE_COLOURS[ds.cue_labels[i]])[:, None]
        assert (ds.images[i][:, cue] - colour).abs().max() < 0.07  # only the mild pixel noise
        assert not (ds.masks[i] & cue).any()
        assert boxes_apart(ds.objects(i)[0].box, (x0, y0, x1, y1), 2)


def test_non_biased_scenes_have_no_cue(scenes):
    for scene in ("single", "multi", "pair"):
        assert (scenes[scene].cue_labels == -1).all() and not scenes[scene].cue_masks.any()


def test_cue_colours_differ_from_fur_and_from_each_other():
    dist = np.sqrt(((CUE_COLOURS[:, None] - FUR_COLOURS[None]) ** 2).sum(-1))
    assert dist.min() > 0.5
    spread = lambda c: c.max(-1) - c.min(-1)  # noqa: E731  (saturated cues, natural furs)
    assert spread(CUE_COLOURS).min() > 0.8 and spread(FUR_COLOURS).max() < 0.7
    assert len({tuple(c) for c in CUE_COLOURS.tolist()}) == 4


def test_face_is_drawn_the_same_whatever_the_class():
    for i in range(6):
        drawn = [data._render("single", 9, i, 64, 1.0, label) for label in range(4)]
        parts = [np.zeros((64, 64), bool) for _ in drawn]
        for p, (_, objs, _, _) in zip(parts, drawn):
            ((_, (x0, y0, x1, y1), _, m, part),) = objs
            p[y0:y1, x0:x1] = part
        outside = ~np.logical_or.reduce(parts)
        for img, _, _, _ in drawn[1:]:
            assert np.array_equal(img[:, outside], drawn[0][0][:, outside])
        boxes = [objs[0][1] for _, objs, _, _ in drawn]
        assert len(set(boxes)) > 1  # the ears do change the animal


def test_splits_sizes_prefixes_and_disjointness():
    val, test = split("val"), split("test")
    assert len(val) == 500 and len(test) == 1000
    assert torch.equal(split("val", n=16).images, val.images[:16])
    assert checksum(split("test", n=1000)) == checksum(test)
    hashes = {}
    for name in ("train", "val", "test"):
        ds = split(name, n=50)
        one = [
            SimpleNamespace(images=ds.images[k : k + 1], labels=ds.labels[k : k + 1])
            for k in range(50)
        ]
        hashes[name] = {checksum(x) for x in one}
    assert not (hashes["train"] & hashes["val"]) and not (hashes["train"] & hashes["test"])
    assert not (hashes["val"] & hashes["test"])
    assert not torch.equal(split("test", "single", n=4).images, split("test", "biased", n=4).images)


def test_full_train_split_has_6000_images():
    train = split("train")
    assert len(train) == 6000 and train.images.shape == (6000, 3, 64, 64)


def test_biased_split_default_cue_agreement():
    for name in ("train", "val"):
        ds = split(name, "biased", n=20)
        assert (ds.cue_labels == ds.labels).all()
    test = split("test", "biased", n=20)
    assert (test.cue_labels != test.labels).all()
    test = split("test", "biased", n=20, cue_agree=1.0)
    assert (test.cue_labels == test.labels).all()


def test_invalid_scene_and_split_raise_with_the_valid_names():
    with pytest.raises(ValueError) as err:
        ToyPets(4, scene="crowd")
    assert all(s in str(err.value) for s in SCENES)
    with pytest.raises(ValueError) as err:
        split("val", scene="crowd", n=2)
    assert all(s in str(err.value) for s in SCENES)
    with pytest.raises(ValueError) as err:
        split("holdout")
    assert all(s in str(err.value) for s in ("train", "val", "test"))


def test_animal_record_is_frozen(scenes):
    o = scenes["single"].objects(0)[0]
    assert dataclasses.is_dataclass(o)
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.label = 3
    assert o.mask.shape == o.part.shape == (64, 64) and len(o.center) == 2


@pytest.mark.parametrize("size", [32, 96])
def test_other_sizes_keep_the_ground_truth_consistent(size):
    for scene in SCENES:
        ds = ToyPets(6, scene, seed=2, size=size)
        assert ds.images.shape == (6, 3, size, size) and ds.masks.shape == (6, size, size)
        for i in range(6):
            for o in ds.objects(i):
                assert_tight(o, size)
