"""Monitoring: surprise and alarms on sensor streams, diagnosis, remaining-life probes."""
