"""Page-number pagination with a 400 for a page number that is not one."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF's page-number pagination (``?page=N``, ``count/next/previous/results``).

    ``page`` must be a whole number from 1 (or ``last``): anything else is a
    400 naming ``page``. A page past the last one stays a 404, as in DRF.
    """

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and raw not in self.last_page_strings:
            if not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
                raise exceptions.ValidationError(
                    {self.page_query_param: f"must be a page number from 1, not {raw!r}"}
                )
        return super().paginate_queryset(queryset, request, view)
