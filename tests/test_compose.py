"""Tests for camlib.data's scene builder: compose, check_scene, random_scene."""

import hashlib

import numpy as np
import pytest
import torch

from camlib import data
from camlib.data import (
    CLASSES,
    CUE_COLOURS,
    EAR_SCALE,
    ENVELOPE,
    RADIUS,
    Animal,
    Pet,
    Scene,
    check_scene,
    compose,
    random_scene,
    split,
)


def one(pet, **scene):
    """The single Animal of a composed one-pet scene."""
    (o,) = compose(Scene((pet,), **scene)).objects
    return o


def replay_single(ds, i):
    """Head radius and ear scale of ToyPets single image i, replayed from its generator (the
    radius is the first draw, then the centre, then the looks; the centre checks the replay)."""
    rng = np.random.default_rng([ds.seed, data.SCENE_IDS["single"], i])
    r = rng.uniform(*RADIUS["single"])
    ext = ENVELOPE * r
    center = (rng.uniform(1 - ext[0], 63 - ext[2]), rng.uniform(1 - ext[1], 63 - ext[3]))
    assert center == ds.objects(i)[0].center
    return r, rng.uniform(*EAR_SCALE)


@pytest.fixture(scope="module")
def test_split():
    return split("test", n=200)


def test_toypets_animal_gives_the_same_head_and_nearly_the_same_ears(test_split):
    for i in range(40):
        o = test_split.objects(i)[0]
        r, _ = replay_single(test_split, i)
        head = one(Pet(o.label, *o.center, size=r, ears="hidden")).mask
        shown = one(Pet(o.label, *o.center, size=r))
        # ToyPets draws ear scale 0.92-1.08, compose 1.0: the head is exact, the ears close
        face = o.mask & ~o.part  # the head, less the dog's ears that hang over it
        assert torch.equal(face, head & ~o.part if o.label == 1 else head), i
        if o.label != 1:  # ears behind the head: they differ only outside it
            assert torch.equal(shown.mask & ~shown.part, face)
            assert not ((shown.mask ^ o.mask) & head).any()
        iou = (shown.mask & o.mask).sum() / (shown.mask | o.mask).sum()
        assert iou > 0.9, (i, iou)
        assert max(abs(a - b) for a, b in zip(shown.box, o.box)) <= 2
        assert shown.label == shown.ears == o.label and shown.center == o.center


@pytest.mark.parametrize("i", [101, 196])
def test_toypets_animal_at_ear_scale_one_gives_the_same_mask_and_part(test_split, i):
    o = test_split.objects(i)[0]
    r, es = replay_single(test_split, i)
    assert abs(es - 1) < 5e-4  # these two images were drawn at an ear scale of about 1
    a = one(Pet(o.label, *o.center, size=r, fur=3), background=i, texture="checks")
    assert torch.equal(a.mask, o.mask) and torch.equal(a.part, o.part) and a.box == o.box


def head_disc(cx, cy, r, size=64):
    c = np.arange(size) + 0.5
    return torch.from_numpy((c[None, :] - cx) ** 2 + (c[:, None] - cy) ** 2 < r * r)


@pytest.mark.parametrize("cls", range(4))
def test_hidden_ears_give_an_empty_part_and_exactly_the_head_disc(cls):
    # every pixel centre lies >= 0.5 px^2 (in squared distance) off this circle
    o = one(Pet(cls, 32.0, 32.0, 10.2, ears="hidden"), background=4)
    assert o.ears == -1 and o.label == cls and o.name == CLASSES[cls]
    assert not o.part.any()
    assert torch.equal(o.mask, head_disc(32.0, 32.0, 10.2))
    assert int(o.mask.sum()) == 332 and o.box == (22, 22, 42, 42)  # pi r^2 = 326.9


# visible ear pixels of a pet at (32, 36), size 12, ear scale 1.0, per class of the ears
PART_PIXELS = {0: 126, 1: 250, 2: 176, 3: 104}


@pytest.mark.parametrize("cls", range(4))
@pytest.mark.parametrize("ears", range(4))
def test_swapped_ears_give_the_other_classes_part(cls, ears):
    swapped = one(Pet(cls, 32.0, 36.0, 12.0, ears=ears))
    own = one(Pet(ears, 32.0, 36.0, 12.0))
    assert swapped.label == cls and swapped.ears == ears and own.ears == ears
    assert int(swapped.part.sum()) == int(own.part.sum()) == PART_PIXELS[ears]
    assert torch.equal(swapped.part, own.part) and torch.equal(swapped.mask, own.mask)
    assert swapped.box == own.box
    head = head_disc(32.0, 36.0, 12.0)
    assert torch.equal(swapped.mask, head | swapped.part)
    assert not (swapped.part & head).any() if ears != 1 else (swapped.part & head).any()


def test_shown_ears_are_the_own_class_ears():
    for cls in range(4):
        assert torch.equal(
            one(Pet(cls, 30, 36, ears="shown")).mask, one(Pet(cls, 30, 36, ears=cls)).mask
        )


def test_boxes_are_tight_and_hold_the_head_circle():
    for cls in range(4):
        for ears in ("shown", "hidden", (cls + 1) % 4):
            o = one(Pet(cls, 29.3, 35.6, 11.4, ears=ears))
            x0, y0, x1, y1 = o.box
            assert o.mask[y0:y1, x0:x1].sum() == o.mask.sum()
            assert o.mask[y0].any() and o.mask[y1 - 1].any()
            assert o.mask[:, x0].any() and o.mask[:, x1 - 1].any()
            assert x0 <= 29.3 - 11.4 + 1 and x1 >= 29.3 + 11.4 - 1 and y1 >= 35.6 + 11.4 - 1
            assert not (o.part & ~o.mask).any()


def test_mask_translates_exactly_with_an_integer_shift():
    # dyadic coordinates: pixel centre minus head centre is exact, so the shapes are too
    a = one(Pet(2, 20.25, 40.5, 9.5))
    b = one(Pet(2, 27.25, 37.5, 9.5))
    assert torch.equal(torch.roll(a.mask, (-3, 7), (0, 1)), b.mask)
    assert torch.equal(torch.roll(a.part, (-3, 7), (0, 1)), b.part)
    assert b.box == (a.box[0] + 7, a.box[1] - 3, a.box[2] + 7, a.box[3] - 3)


@pytest.mark.parametrize("cue", range(4))
def test_cue_square_has_its_colour_and_mask(cue):
    c = compose(Scene((Pet(1, 40, 40),), background=9, cue=cue))
    assert c.cue_mask.dtype == torch.bool and c.cue_mask.shape == (64, 64)
    assert c.cue_mask[2:14, 2:14].all() and int(c.cue_mask.sum()) == 144
    colour = torch.from_numpy(CUE_COLOURS[cue])[:, None]
    assert (c.image[:, c.cue_mask] - colour).abs().max() < 0.07  # only the pixel noise
    assert not (c.objects[0].mask & c.cue_mask).any()


def test_no_cue_gives_an_empty_cue_mask():
    c = compose(Scene((Pet(1, 40, 40),), background=9))
    assert not c.cue_mask.any()
    red = torch.from_numpy(CUE_COLOURS[0])[:, None, None]
    assert (c.image[:, 2:14, 2:14] - red).abs().max() > 0.2


def test_image_is_quantized_and_the_same_bit_for_bit():
    scene = Scene(
        (
            Pet(0, 16, 46, 9, fur=1),
            Pet(1, 47, 46, 9, fur=3, ears=2),
            Pet(3, 40, 13, 8, fur=6, ears="hidden"),
        ),
        background=123,
        texture="dots",
        cue=2,
    )
    a, b = compose(scene), compose(scene)
    assert a.image.dtype == torch.float32 and a.image.shape == (3, 64, 64)
    assert a.image.min() >= 0 and a.image.max() <= 1
    assert torch.equal(torch.round(a.image * 255) / 255, a.image)
    assert torch.equal(a.image, b.image) and torch.equal(a.cue_mask, b.cue_mask)
    assert all(
        torch.equal(x.mask, y.mask) and torch.equal(x.part, y.part) and x.box == y.box
        for x, y in zip(a.objects, b.objects)
    )
    # the same pixels on every machine: IEEE-exact arithmetic only
    u8 = torch.round(a.image * 255).to(torch.uint8).numpy().tobytes()
    assert hashlib.sha256(u8).hexdigest()[:16] == "60dbfa90a1c4b413"
    assert [o.box for o in a.objects] == [(7, 32, 25, 55), (38, 26, 56, 55), (32, 5, 48, 21)]
    assert [o.ears for o in a.objects] == [0, 2, -1]


def test_background_seed_and_texture_change_the_clutter_but_not_the_animal():
    pet = Pet(3, 32, 36, fur=2)
    images = {
        (bg, t): compose(Scene((pet,), background=bg, texture=t))
        for bg in (0, 1)
        for t in data.TEXTURES
    }
    assert len({hashlib.sha256(c.image.numpy().tobytes()).digest() for c in images.values()}) == 8
    masks = [c.objects[0].mask for c in images.values()]
    assert all(torch.equal(m, masks[0]) for m in masks)


def test_moving_an_animal_keeps_the_rest_of_a_plain_background():
    a = compose(Scene((Pet(0, 20, 40, 10),), background=5, texture="plain"))
    b = compose(Scene((Pet(0, 44, 40, 10),), background=5, texture="plain"))
    far = torch.ones(64, 64, dtype=torch.bool)
    for o in a.objects + b.objects:
        far[o.box[1] : o.box[3], o.box[0] : o.box[2]] = False
    assert far.sum() > 2000 and torch.equal(a.image[:, far], b.image[:, far])


def test_other_sizes_scale_the_animal():
    o = one(Pet(2, 48, 60, 12), size=96)  # size is the radius at 64: 18 px at 96
    assert o.mask.shape == (96, 96)
    assert torch.equal(o.mask & ~o.part, head_disc(48, 60, 18.0, 96))


def test_animal_ears_default_to_its_own_class(test_split):
    m = torch.zeros(4, 4, dtype=torch.bool)
    assert Animal(2, "rabbit", (0, 0, 1, 1), m, m, (0.5, 0.5)).ears == 2
    assert Animal(2, "rabbit", (0, 0, 1, 1), m, m, (0.5, 0.5), -1).ears == -1
    assert all(o.ears == o.label for i in range(10) for o in test_split.objects(i))
    multi = data.ToyPets(8, "pair", seed=1)
    assert all(o.ears == o.label for i in range(8) for o in multi.objects(i))


CAT = (
    "animal 1 (cat) leaves the image at the {}: with its ears (at the largest ear scale) it spans "
)
ERRORS = [
    (Scene(()), "a scene holds 1 to 3 animals, this one has 0: add a Pet"),
    (
        Scene(tuple(Pet(0, 8 + 16 * k, 40, 4) for k in range(4))),
        "a scene holds 1 to 3 animals, this one has 4: remove 1 of them",
    ),
    (
        Scene((Pet(0, 32, 32), Pet(4, 32, 32))),
        "animal 2: unknown class 4; use one of 0 cat, 1 dog, 2 rabbit, 3 bear",
    ),
    (
        Scene((Pet(0, 32, 32, fur=8),)),
        "animal 1: unknown fur 8; use 0 to 7 (an index into FUR_COLOURS)",
    ),
    (
        Scene((Pet(0, 32, 32, ears="big"),)),
        "animal 1: unknown ears 'big'; use \"shown\", "
        '"hidden" or a class index (0 cat, 1 dog, 2 rabbit, 3 bear)',
    ),
    (Scene((Pet(0, 32, 32, size=0),)), "animal 1: size 0 must be a number > 0"),
    (Scene((Pet(0, 32, float("nan")),)), "animal 1: position (32, nan) must be two numbers"),
    (
        Scene((Pet(0, 32, 32),), texture="waves"),
        "unknown texture 'waves'; use one of stripes, checks, dots, plain",
    ),
    (Scene((Pet(0, 32, 32),), cue=4), "unknown cue 4; use None (no cue) or a class index 0 to 3"),
    (Scene((Pet(0, 32, 32),), background=-1), "background must be a seed, an integer >= 0, got -1"),
    (Scene((Pet(0, 32, 32),), size=8), "scene size must be an integer from 16 to 4096, got 8"),
    # cat: x from -1.0584 r to 1.0584 r, y from -1.7928 r (the ears at scale 1.08) to r
    (
        Scene((Pet(0, 10, 32),)),
        CAT.format("left") + "x -2.7 to 22.7, the image x 0 to 64; "
        "move it right by at least 2.8 px or make it smaller than 9.4 px",
    ),
    (
        Scene((Pet(0, 55, 32),)),
        CAT.format("right") + "x 42.3 to 67.7, the image x 0 to 64; "
        "move it left by at least 3.8 px or make it smaller than 8.5 px",
    ),
    (
        Scene((Pet(0, 32, 20),)),
        CAT.format("top") + "y -1.5 to 32.0, the image y 0 to 64; "
        "move it down by at least 1.6 px or make it smaller than 11.1 px",
    ),
    (
        Scene((Pet(0, 32, 60, ears=1),)),
        CAT.format("bottom") + "y 48.0 to 72.0, the image y 0 "
        "to 64; move it up by at least 8.0 px or make it smaller than 4.0 px",
    ),
    (
        Scene((Pet(0, 32, 32, size=40),)),
        "animal 1 (cat) is too big: with its ears (at the "
        "largest ear scale) it spans x -10.3 to 74.3, the image x 0 to 64; make it smaller than "
        "30.2 px",
    ),
    (
        Scene((Pet(1, 10, 32, ears="hidden"),)),
        "animal 1 (dog) leaves the image at the left: "
        "with its ears (at the largest ear scale) it spans x -2.0 to 22.0, the image x 0 to 64; "
        "move it right by at least 2.0 px or make it smaller than 10.0 px",
    ),
    (
        Scene((Pet(3, 20, 24, 8), Pet(1, 20, 50, 8)), cue=0),
        "animal 1 (bear) is over the cue "
        "square: its box with ears spans x 10.0 to 30.0, y 13.8 to 32.0, the square x 2.0 to 14.0, "
        "y 2.0 to 14.0; keep it at least 3 px away: move it down by at least 3.2 px",
    ),
    (
        Scene((Pet(1, 50, 50, 8), Pet(3, 24, 24, 8, ears="hidden")), cue=0),
        "animal 2 (bear) "
        "is too close to the cue square: its box with ears spans x 16.0 to 32.0, y 16.0 to 32.0, "
        "the square x 2.0 to 14.0, y 2.0 to 14.0; keep it at least 3 px away: move it down by at "
        "least 1.0 px",
    ),
    (
        Scene((Pet(3, 20, 40, 8), Pet(3, 40, 40, 8))),
        "animals 1 (bear) and 2 (bear) overlap: "
        "their boxes with ears overlap by 0.1 px, they must be at least 3 px apart; move animal 2 "
        "right by at least 3.1 px",
    ),
    (
        Scene((Pet(3, 20, 40, 8), Pet(3, 42, 40, 8))),
        "animals 1 (bear) and 2 (bear) are too "
        "close: their boxes with ears are 1.9 px apart, they must be at least 3 px apart; move "
        "animal 2 right by at least 1.1 px",
    ),
    # moving the cat left would crowd the rabbit: the bear moves instead
    (
        Scene((Pet(2, 12, 40, 8), Pet(3, 52, 40, 8), Pet(0, 32, 40, 8))),
        "animals 2 (bear) and "
        "3 (cat) are too close: their boxes with ears are 1.5 px apart, they must be at least 3 px "
        "apart; move animal 2 right by at least 1.5 px",
    ),
    (
        Scene((Pet(3, 16, 32, 12.7), Pet(3, 48, 32, 12.7))),
        "animals 1 (bear) and 2 (bear) are "
        "too close: their boxes with ears are 0.1 px apart, they must be at least 3 px apart; "
        "make them smaller",
    ),
]


@pytest.mark.parametrize("scene, message", ERRORS)
def test_check_scene_names_the_problem_and_the_fix(scene, message):
    with pytest.raises(ValueError) as err:
        check_scene(scene)
    assert str(err.value) == message
    with pytest.raises(ValueError) as err:
        compose(scene)
    assert str(err.value) == message


def test_the_suggested_fixes_work():
    fixed = [
        Scene((Pet(0, 12.8, 32),)),
        Scene((Pet(0, 10, 32, size=9.39),)),
        Scene((Pet(3, 20, 27.2, 8), Pet(1, 20, 50, 8)), cue=0),
        Scene((Pet(3, 20, 40, 8), Pet(3, 43.1, 40, 8))),
        Scene((Pet(2, 12, 40, 8), Pet(3, 53.5, 40, 8), Pet(0, 32, 40, 8))),
    ]
    for scene in fixed:
        check_scene(scene)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_random_scenes_always_pass_check_scene(n):
    for seed in range(200):
        rng = np.random.default_rng(seed)
        ears = ("shown", "hidden", seed % 4)[seed % 3]
        cue = seed % 4 if seed % 2 else None
        scene = random_scene(rng, n, ears=ears, cue=cue)
        check_scene(scene)
        assert len(scene.pets) == n and scene.cue == cue and scene.size == 64
        assert scene.texture in ("stripes", "checks", "dots")
        lo, hi = RADIUS[("single", "pair", "multi3")[n - 1]]
        assert all(lo <= p.size <= hi and p.ears == ears for p in scene.pets)
    assert random_scene(np.random.default_rng(0), 2, texture="plain").texture == "plain"


def test_random_scenes_compose_into_separate_animals():
    for seed in range(20):
        scene = random_scene(np.random.default_rng(seed), 1 + seed % 3, cue=seed % 4)
        c = compose(scene)
        assert [o.label for o in c.objects] == [p.cls for p in scene.pets]
        for k, a in enumerate(c.objects):
            assert not (a.mask & c.cue_mask).any()
            assert all(not (a.mask & b.mask).any() for b in c.objects[k + 1 :])
        assert random_scene(np.random.default_rng(seed), 1 + seed % 3, cue=seed % 4) == scene
