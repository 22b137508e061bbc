"""The moving average of a model's weights (training.weight_average)."""
import pytest
import torch
from torch import nn

from arseg.train.averaging import WeightAverage


def model_with(value: float) -> nn.Module:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)
    return model


def test_the_average_follows_the_weights_with_the_decay_after_a_faster_start():
    model = model_with(0.0)
    average = WeightAverage(model, decay=0.5)
    expected = 0.0
    for step, value in enumerate([4.0, 8.0, 2.0], start=1):
        with torch.no_grad():
            model[0].weight.fill_(value)
        model[1].num_batches_tracked += 1
        average.update(model)
        decay = min(0.5, (1 + step) / (10 + step))
        expected = decay * expected + (1 - decay) * value
        assert torch.allclose(average.weights["0.weight"], torch.full((2, 2), expected))
    assert average.weights["0.bias"].eq(0).all()  # never moved
    assert int(average.weights["1.num_batches_tracked"]) == 3  # counters are copied, not averaged


def test_swapped_in_lends_the_average_and_gives_the_weights_back_even_on_error():
    model = model_with(1.0)
    average = WeightAverage(model, decay=0.9)
    with torch.no_grad():
        model[0].weight.fill_(5.0)
    with average.swapped_in(model):
        assert model[0].weight.eq(1.0).all()
    assert model[0].weight.eq(5.0).all()
    with pytest.raises(RuntimeError), average.swapped_in(model):
        raise RuntimeError("validation failed")
    assert model[0].weight.eq(5.0).all()


def test_state_round_trips_and_a_decay_outside_zero_to_one_is_refused():
    model = model_with(1.0)
    average = WeightAverage(model, decay=0.9)
    average.update(model_with(3.0))
    other = WeightAverage(model_with(0.0), decay=0.5)
    other.load_state_dict(average.state_dict())
    assert other.decay == 0.9 and other.steps == 1
    assert torch.equal(other.weights["0.weight"], average.weights["0.weight"])
    with pytest.raises(ValueError, match="training.weight_average.*between 0 and 1"):
        WeightAverage(model, decay=1.0)
