"""The backend's automation: what it does by itself on timers (alert rules, webhook deliveries, retrain
triggers, shadow and rollback watch). `controller.Controller` runs the periodic tasks."""
