"""The patient's own area under ``/patient/``: invitation, sign-in, questionnaires, timeline, consent and
a copy of their data. A patient sees their own record and nothing else."""
