"""SLA timers: one EventBridge Scheduler schedule per notified mention (or incident), and what happens when it fires."""
