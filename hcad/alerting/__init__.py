"""The alerting and notifications plugins: monitors wired to detectors (specs, monitor bodies,
plan/apply, dry runs), notification channels as code, and drift of a detector's grades.
"""
