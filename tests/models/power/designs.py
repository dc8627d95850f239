"""The design the power tests share: two delivery modes, four waves, the issue's effects."""

EFFECTS = {"Intercept": 38, "weeks": 0.3, "mode[T.one_to_one]": 0, "weeks:mode[T.one_to_one]": 0.1}
VARIANCE = {"intercept_sd": 6, "slope_sd": 0.15, "correlation": 0, "residual_sd": 4}
#: the model, truth, waves and allocation, without a test
BASE = dict(fixed="weeks * mode", random="weeks", effects=EFFECTS, variance=VARIANCE,
            waves=[0, 6, 12, 24], allocation={"group": 0.5, "one_to_one": 0.5})
