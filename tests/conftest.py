from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# dev: quick and random (the default locally); ci: derandomized, so CI is reproducible;
# deep: random seeds and >= 2,000 examples per property, to hunt rare failures
# (`HYPOTHESIS_PROFILE=deep pytest tests/property`; minutes per module)
DEEP_EXAMPLES = 2_000

settings.register_profile("dev", deadline=None, max_examples=50)
settings.register_profile(
    "ci", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile(
    "deep",
    deadline=None,
    max_examples=DEEP_EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=False,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
