"""The baseline chapter's sentences and table rows, on hand-made values (no model, no MNIST)."""
import numpy as np

from lab3.book.chapters import baseline

NB = "\u00a0"
RECIPE = {"optimizer": "adam", "lr": 0.002, "schedule": "cosine", "batch_size": 64, "epochs": 3,
          "train_size": 60000, "weight_decay": 0.0, "max_shift": 0, "seed": 0}


def test_record_check_reads_the_training_record_only_when_there_is_one():
    assert baseline.record_check({"source": "course checkpoint (SimpleDNN)"}, 9859) == ""
    assert baseline.record_check({"test_correct": 9859}, 9859) == ", the same count as recorded at training time"
    assert baseline.record_check({"test_correct": 9859}, 9860) == ", **not** the 9,859 recorded at training time"


def test_recipe_sentence_names_the_recipe_or_says_there_is_none():
    meta = {"recipe": RECIPE, "epochs": [{"train_loss": 0.2512}, {"train_loss": 0.0871}, {"train_loss": 0.05}]}
    assert baseline.recipe_sentence(meta) == (
        "Adam with learning rate 0.002 on a cosine schedule, batch 64, 3 epochs over the 60,000 training images, "
        "weight decay 0, no shifted images, seed 0; the mean training loss fell over the epochs as "
        "0.251, 0.087, 0.050.")
    shifted = {**meta, "recipe": {**RECIPE, "max_shift": 2, "weight_decay": 5e-4}}
    assert "weight decay 0.0005, random shifts up to 2 pixels, seed 0;" in baseline.recipe_sentence(shifted)
    assert baseline.recipe_sentence({"source": "course checkpoint (SimpleDNN)"}) == (
        "This checkpoint (course checkpoint (SimpleDNN)) carries no training record: it was not trained by lab3.")


def test_accuracy_texts():
    texts = baseline.accuracy_texts(25_000_000, [784, 4096, 2048, 1024, 10], 9862, 10000, 0.9859,
                                    {"test_correct": 9862})
    assert texts["b-params"] == "25,000,000" and texts["b-widths"] == "784-4096-2048-1024-10"
    assert texts["b-correct"] == "9,862 of the 10,000"
    assert texts["b-acc"] == "98.62% ± 0.23 pp" and texts["b-hw"] == "±0.23 pp"  # Wilson, 10,000 images
    assert texts["b-course"] == "98.59%" and texts["b-diff"] == f"+0.03{NB}pp"
    assert texts["b-record"] == ", the same count as recorded at training time"


def test_search_rows_put_the_lowest_score_first_and_break_ties_by_total():
    search = {"candidates": [{"label": "a", "score": 2.0, "total": 1.0}, {"label": "b", "score": 1.0, "total": 9.0},
                             {"label": "c", "score": 1.0, "total": 3.0}],
              "date": "2026-11-30", "cpu": "AMD EPYC", "threads": 2}
    assert [r["label"] for r in baseline.search_rows(search)] == ["c", "b", "a"]
    assert baseline.search_caption(search).startswith(
        "The recipe search as recorded on 2026-11-30 (AMD EPYC, 2 threads), best first")
    search["candidates"][0].update(date="2026-12-07")  # rows from a later run say so
    assert baseline.search_caption(search).startswith(
        "The recipe search as recorded on 2026-11-30 and 2026-12-07 (AMD EPYC, 2 threads), best first")
    search["candidates"][0].update(cpu="Intel Xeon")
    assert baseline.search_caption(search).startswith("The recipe search as recorded on 2026-11-30 (AMD EPYC, "
                                                      "2 threads); 2026-12-07 (Intel Xeon, 2 threads), best first")


def test_a_step_schedule_says_when_the_rate_drops():
    step = {**RECIPE, "schedule": "step", "lr": 1e-3, "epochs": 4, "decay_epochs": 1, "gamma": 0.1}
    meta = {"recipe": step, "epochs": [{"train_loss": 0.3}] * 4}
    assert baseline.recipe_sentence(meta).startswith(
        "Adam with learning rate 0.001 for 3 epochs, then 0.1 times that for the last epoch (a step schedule), "
        "batch 64, 4 epochs over")
    assert baseline.schedule_text({**step, "decay_epochs": 2}).endswith("for the last 2 epochs (a step schedule)")


def test_halves_rows():
    full = {"select_correct": 4930, "select_total": 5000, "correct": 4925, "total": 5000}
    rows = baseline.halves_rows(full, 9855, 10000)
    assert [(r["half"], r["n"]) for r in rows] == [("selection (choices)", 5000),
                                                   ("reporting (stated accuracies)", 5000), ("whole test set", 10000)]
    assert [r["acc"][:6] for r in rows] == ["98.60%", "98.50%", "98.55%"]
    assert all(r["acc"].endswith(" pp") for r in rows)


def test_per_class_counts_accuracy_and_the_most_confused_digit():
    labels = np.array([*range(10), 0, 0, 0, 7, 7, 7, 7, 7])  # every digit right once, then 0s and 7s
    predicted = np.array([*range(10), 0, 6, 0, 7, 1, 1, 7, 7])
    confusion = baseline.confusion_matrix(labels, predicted)
    assert confusion.sum() == 18 and confusion[7, 1] == 2 and confusion[0, 6] == 1
    rows = baseline.per_class(confusion)
    assert rows[0]["n"] == 4 and rows[0]["acc"] == 0.75 and rows[0]["confused"] == 6
    assert rows[7]["n"] == 6 and rows[7]["acc"] == 4 / 6 and rows[7]["confused"] == 1
    assert rows[3]["n"] == 1 and rows[3]["acc"] == 1.0
