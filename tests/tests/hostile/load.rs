//! Overload: timeouts, connection and work limits, load shedding, memory.
