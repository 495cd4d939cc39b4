"""Background workers: journal shipping, snapshot polling, last-used flushing, batch metering."""
