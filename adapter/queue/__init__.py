"""Queue mode: ``serve`` plans and enqueues copy tasks; Celery workers copy (docs/deployment.md)."""
