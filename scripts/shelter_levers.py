"""Levers for top-1 on whole, real-life photos, measured on the *choosing* half of oxford-pet-dogs only.

    python scripts/shelter_levers.py ../shared/datasets/stanford-dogs-crops224 ../shared/datasets/oxford-pet-dogs

Prints the top-1 (dogs of known breeds of the choosing half) of:

1. the head trained on the crops alone (notebook 04's recipe), each photo seen through several view
   policies (the reporting half is never read; the shipped head learnt from the choosing photos, so it is
   not the baseline here);
2. heads trained on the crops *and* whole pet photos: 5-fold cross-validation over the choosing half's
   known-breed dogs (each fold's head trains on the crops' train photos and the other four folds, both
   views, repeated ``weight`` times; early stopping on the crops' validation photos), so every choosing
   photo is scored by a head that never saw it. ``dogbreeds train --choose-on`` ships weight 4;
3. with more backbones named after the folders (``efficientnet_lite0``), the same 5-fold head (weight 4)
   on the shipped backbone's features joined with theirs (one vector per photo).
"""

from __future__ import annotations

import sys

import numpy as np
from sklearn.model_selection import KFold

from dogbreeds.data.pets import CHOOSING, read_pet_dogs
from dogbreeds.data.splits import official_split, stratified_rows
from dogbreeds.judge.calibration import view_probabilities
from dogbreeds.judge.intervals import accuracy_interval, paired_comparison
from dogbreeds.models.transfer import FeatureSet, concat_features, split_features, stack_features, train_head
from dogbreeds.shelter.measuring import view_features
from dogbreeds.shelter.model import ShelterModel

POLICIES = {  # the pet photos are 299-px squares: the whole photo is the centre square
    "centre square + mirror (shipped)": ("center", "center-flip"),
    "zoomed centre + mirror": ("zoom", "zoom-flip"),
    "centre + zoomed centre + mirrors": ("center", "center-flip", "zoom", "zoom-flip"),
}


def main(crops_dir: str, pets_dir: str, *joined: str) -> None:
    model = ShelterModel.load()
    backbone, label_ids = model.config.backbone, list(model.config.label_ids)
    every_dog = read_pet_dogs(pets_dir)
    kept = [i for i, photo in enumerate(every_dog) if photo.part == CHOOSING and photo.known_breed]
    labels = np.array([label_ids.index(every_dog[i].accepted) for i in kept])
    views = {  # the shipped views of every pet dog are cached by `dogbreeds bench oxford`; the others: these only
        view: view_features(backbone, [photo.path for photo in every_dog], view)[kept]
        if view in model.config.views
        else view_features(backbone, [every_dog[i].path for i in kept], view)
        for policy in POLICIES.values()
        for view in policy
    }

    def correct(kernel: np.ndarray, bias: np.ndarray, names: tuple[str, ...], rows: np.ndarray) -> np.ndarray:
        logits = np.stack([views[name][rows] @ kernel + bias for name in names])
        return view_probabilities(logits).argmax(1) == labels[rows]

    every = np.arange(len(labels))
    print(f"choosing half, {len(labels)} dogs of known breeds")
    shipped = ("center", "center-flip")
    split, label_map = official_split(crops_dir)
    assert list(label_map.label_ids) == label_ids, "the crops' breeds must be the model's"
    pool = split_features(backbone, {"pool": split.train}, label_map, batch_size=32)["pool"]
    train_rows, val_rows = stratified_rows(pool.labels, 0.1, 42)
    crops_head = train_head(pool.subset(train_rows), pool.subset(val_rows), num_classes=len(label_ids), progress=False)
    crops_kernel, crops_bias = crops_head.model.get_layer("predictions").get_weights()
    baseline = correct(crops_kernel, crops_bias, shipped, every)

    def report(lever: str, right: np.ndarray) -> None:
        against = paired_comparison(right, baseline)
        print(f"{lever}: {accuracy_interval(int(right.sum()), len(right)).text()}, against the crops' "
              f"head and the shipped views {against.difference.signed_text()} ({against.verdict})")  # fmt: skip

    for policy, names in POLICIES.items():
        report(f"head on the crops alone, {policy}", correct(crops_kernel, crops_bias, names, every))

    def cross_validated(pool: FeatureSet, pets: dict[str, np.ndarray], weight: int) -> np.ndarray:
        """Each choosing dog scored by a head trained on the crops and the other folds' pet photos."""
        right = np.zeros(len(labels), dtype=bool)
        for fit, held in KFold(5, shuffle=True, random_state=42).split(every):
            whole = FeatureSet(np.concatenate([pets[name][fit] for name in shipped]), np.tile(labels[fit], 2))
            rows = stack_features([pool.subset(train_rows), *[whole] * weight])
            head = train_head(rows, pool.subset(val_rows), kind="keras", num_classes=len(label_ids), progress=False)
            kernel, bias = head.model.get_layer("predictions").get_weights()
            logits = np.stack([pets[name][held] @ kernel + bias for name in shipped])
            right[held] = view_probabilities(logits).argmax(1) == labels[held]
        return right

    for weight in (1, 4):
        report(
            f"head on crops + whole pet photos (x{weight}), 5-fold, centre square + mirror",
            cross_validated(pool, views, weight),
        )
    if joined:
        pools, pets = [pool], {name: [views[name]] for name in shipped}
        for other in joined:
            pools.append(split_features(other, {"pool": split.train}, label_map, batch_size=32)["pool"])
            for name in shipped:
                pets[name].append(view_features(other, [every_dog[i].path for i in kept], name))
        report(
            f"{' + '.join((backbone, *joined))} features joined, crops + whole pet photos (x4), 5-fold",
            cross_validated(concat_features(pools), {name: np.concatenate(part, 1) for name, part in pets.items()}, 4),
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
