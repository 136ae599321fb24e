"""OpenHSCT: registry, outcomes and evidence for autologous HSCT in multiple sclerosis."""

__version__ = "0.1.0"

NOT_MEDICAL_ADVICE = (
    "OpenHSCT presents registry data and published evidence. It is not medical advice: "
    "decisions about treatment belong to a person and their own clinicians."
)
