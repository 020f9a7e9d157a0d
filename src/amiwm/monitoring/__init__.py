"""Monitoring: labelled fault injection (simulated plants and recorded sensor arrays)."""

from amiwm.monitoring.faults import (
    FAULT_KINDS,
    SENSOR_FAULTS,
    Fault,
    SensorFaultStream,
    inject,
    random_fault,
)

__all__ = ["FAULT_KINDS", "SENSOR_FAULTS", "Fault", "SensorFaultStream", "inject", "random_fault"]
