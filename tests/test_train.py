import pytest
import torch

from lab3.base import data, numerics
from lab3.base.model import model_sha256
from lab3.experiments import train


@pytest.fixture(scope="module")
def train_set():
    return data.raw_tensors("train")


def test_tiny_training_is_deterministic_and_learns(train_set):
    x, y = train_set
    recipe = train.Recipe(epochs=3, train_size=4096, batch_size=128, lr=1e-2)
    a = train.train_model(x, y, recipe, hidden=(64, 32, 16), progress=False)
    b = train.train_model(x, y, recipe, hidden=(64, 32, 16), progress=False)
    assert model_sha256(a) == model_sha256(b)
    xs, ys = data.normalize(x[:4096]), y[:4096]
    assert (a(xs).argmax(1) == ys).double().mean() > 0.75


def test_training_leaves_the_callers_rng_alone(train_set):
    x, y = train_set
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train.train_model(x, y, train.Recipe(epochs=1, train_size=256), hidden=(8, 8, 8), progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_random_shift():
    img = torch.zeros(1, 28, 28, dtype=torch.uint8)
    img[0, 10, 10] = 255
    gen = torch.Generator().manual_seed(0)
    out = train.random_shift(img.repeat(500, 1, 1), 2, gen)
    assert out.shape == (500, 28, 28) and out.dtype == torch.uint8
    positions = (out == 255).nonzero()[:, 1:]
    assert positions.shape[0] == 500
    assert (positions - 10).abs().max() == 2 and len({tuple(p.tolist()) for p in positions}) == 25
    assert torch.equal(train.random_shift(img, 0, gen), img)
    edge = torch.full((1, 28, 28), 7, dtype=torch.uint8)
    shifted = train.random_shift(edge.repeat(50, 1, 1), 2, gen)
    assert set(shifted.unique().tolist()) <= {0, 7}


@pytest.mark.parametrize("field,value", [("epochs", 0), ("lr", -1.0), ("lr", float("nan")), ("batch_size", 0),
                                         ("max_shift", 9), ("train_size", 60001), ("pct_start", 1.0),
                                         ("optimizer", "rmsprop"), ("schedule", "exp"), ("momentum", 1.0),
                                         ("decay_epochs", -1), ("gamma", 0.0), ("gamma", 1.5)])
def test_bad_recipe(field, value):
    with pytest.raises(ValueError, match=f"recipe.{field}"):
        train.Recipe(**{field: value}).validate()


def test_a_step_schedule_needs_an_epoch_before_its_decay():
    with pytest.raises(ValueError, match="recipe.decay_epochs=6"):
        train.Recipe(schedule="step", decay_epochs=6).validate()  # 6 epochs: none left at the full rate
    assert train.Recipe(schedule="constant", epochs=1).validate().decay_epochs == 1  # ignored off the step schedule


@pytest.mark.parametrize("name,cls",
                         [("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam), ("sgd", torch.optim.SGD)])
def test_each_optimizer_is_the_fused_kernel_with_per_group_decay(name, cls):
    w, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = train.make_optimizer([{"params": [w], "weight_decay": 0.1}, {"params": [b], "weight_decay": 0.0}],
                               train.Recipe(optimizer=name, lr=0.5))
    assert type(opt) is cls and opt.defaults["fused"] is True
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0] and opt.defaults["lr"] == 0.5


@pytest.mark.parametrize("schedule", train.SCHEDULES)
def test_schedules_over_the_whole_run(schedule):
    w = torch.nn.Parameter(torch.ones(1))
    recipe = train.Recipe(schedule=schedule, lr=1.0, pct_start=0.25, epochs=4, decay_epochs=1, gamma=0.1)
    opt = train.make_optimizer([{"params": [w], "weight_decay": 0.0}], recipe)
    sched = train.make_schedule(opt, recipe, total_steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    if schedule == "constant":
        assert set(lrs) == {1.0}
    elif schedule == "step":  # three epochs of 25 steps at lr, the last at lr × gamma
        assert set(lrs[:75]) == {1.0} and lrs[75:] == pytest.approx([0.1] * 25)
    elif schedule == "cosine":
        assert lrs[0] == 1.0 and lrs[50] == pytest.approx(0.5, abs=0.02) and lrs[-1] < 1e-3
    else:  # one-cycle: warm up to the peak at 25% of the steps, then anneal far below the start
        assert max(lrs) == pytest.approx(1.0, abs=1e-3) and lrs.index(max(lrs)) in (24, 25) and lrs[-1] < lrs[0]


def test_the_default_recipe_is_the_course_like_one_and_strong_the_previous():
    from lab3.experiments import course_recipe

    assert train.RECIPE == train.Recipe(**course_recipe.COURSE_LIKE) == train.RECIPES["course"]
    assert train.RECIPES["strong"] == train.Recipe() and train.RECIPES["strong"].optimizer == "adamw"


def test_bad_training_inputs(train_set):
    x, y = train_set
    with pytest.raises(ValueError, match="uint8"):
        train.train_model(x.float(), y)
    with pytest.raises(ValueError, match="labels"):
        train.train_model(x[:10], y[:5])


def test_train_full_writes_then_reuses(tmp_path):
    recipe = train.Recipe(epochs=1, train_size=256)
    path = tmp_path / "full.pt"
    logs = []
    record = train.train_full(path, recipe, log=logs.append)
    assert path.is_file() and train.record_path(path).is_file()
    assert record["recipe"]["train_size"] == 256 and record["test_total"] == 10000
    assert 0 <= record["test_correct"] <= 10000 and record["parameters"] == 25_889_258
    mtime = path.stat().st_mtime_ns
    again = train.train_full(path, recipe, log=logs.append)
    assert path.stat().st_mtime_ns == mtime and again["sha256"] == record["sha256"]
    assert logs[-1].startswith("reusing")


def test_cli_rejects_bad_epochs(capsys):
    assert train.main(["--epochs", "0"]) == 2
    assert "recipe.epochs" in capsys.readouterr().err


def test_a_change_to_the_training_code_or_numerics_retrains(tmp_path, monkeypatch):
    recipe = train.Recipe(epochs=1, train_size=256)
    path = tmp_path / "full.pt"
    train.train_full(path, recipe, log=lambda m: None)
    assert train.matching_checkpoint(path, recipe) is not None
    monkeypatch.setattr(train, "training_code_version", lambda: "edited model.py")
    assert train.matching_checkpoint(path, recipe) is None
    monkeypatch.undo()
    other = "avx2" if numerics.profile() == "native" else "native"
    monkeypatch.setenv("LAB3_NUMERICS", other)  # the other profile, whichever this run uses
    assert train.matching_checkpoint(path, recipe) is None


def test_training_code_is_what_trains(monkeypatch):
    import inspect

    before = train.training_code_version()
    real = inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda obj: real(obj) + ("# edited" if obj is train.SimpleDNN else ""))
    assert train.training_code_version() != before  # an edit of the architecture retrains
