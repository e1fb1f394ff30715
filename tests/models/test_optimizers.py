from cloze.models.optimizers import WarmupLinearDecay


def test_schedule_warms_up_then_decays_to_zero():
    schedule = WarmupLinearDecay(peak=2.0, warmup_steps=4, total_steps=12)
    values = [float(schedule(step)) for step in range(13)]
    assert values[:5] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert values[4:] == sorted(values[4:], reverse=True)
    assert values[12] == 0.0


def test_schedule_without_total_steps_holds_the_peak_after_warmup():
    schedule = WarmupLinearDecay(peak=1.0, warmup_steps=2)
    assert [float(schedule(step)) for step in (1, 2, 1000)] == [0.5, 1.0, 1.0]
