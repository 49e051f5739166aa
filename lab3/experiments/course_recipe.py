"""The default training recipe, as plain fields: the one whose model behaves most like the course's.

Chosen by ``benchmarks/search_course_recipe.py`` (its table is in the baseline chapter): of a small family of
plain recipes, the one whose model's lab tables (accuracy, the q × l grid, the pruning table) are closest to
the course's published ones (``lab3.experiments.course.distance``). Since 2026-12-07 that is Adam at a constant
1e-3 for three epochs and 1e-4 for a fourth (a step schedule): the constant rate grows the weights toward the
course's range, and the last epoch recovers the accuracy its noise costs. It lives apart from
``lab3.experiments.train`` so that choosing it does not change the training code's hash: the recipe is part of
a checkpoint's key by value.

``STRONG`` is the earlier default (AdamW with weight decay 0.05, one-cycle, random shifts): a more accurate
model with far smaller weights, kept as a named alternative (``python -m lab3.train --recipe strong``).
"""
from __future__ import annotations

from typing import Any

COURSE_LIKE: dict[str, Any] = {"optimizer": "adam", "schedule": "step", "lr": 1e-3, "batch_size": 64,
                               "epochs": 4, "decay_epochs": 1, "gamma": 0.1, "weight_decay": 0.0, "max_shift": 0}
STRONG: dict[str, Any] = {}  # train.Recipe's field defaults
RECIPES = {"course": COURSE_LIKE, "strong": STRONG}
DEFAULT = "course"
