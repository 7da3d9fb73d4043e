"""az-celery: distributed execution of az tasks on Celery with a Redis broker."""
