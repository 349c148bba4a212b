"""OGC SensorThings API v1.1 reads over the live tables: entity views, query options,
``$filter`` to SQL, keyset paging and the read functions the ``/sta/v1.1`` router calls."""
