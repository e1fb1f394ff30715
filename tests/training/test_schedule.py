from cloze.training.schedule import WarmupLinearDecay


def test_schedule_warms_up_then_decays_to_zero():
    schedule = WarmupLinearDecay(peak=2.0, warmup_steps=4, total_steps=12)
    values = [float(schedule(step)) for step in range(13)]
    assert values[:5] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert values[4:] == sorted(values[4:], reverse=True)
    assert values[12] == 0.0
