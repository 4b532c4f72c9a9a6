"""The admin's SMS page: spend per destination country over the last day, against each
budget, and the budgets that tripped (``SmsBudgetTrip``) — for support and operators
answering "are we being pumped?" and "why did my code not come?".

The chart is an SVG rendered on the server (shapes computed here, written out by the
autoescaping template; no script, no CDN): one stacked bar per
hour, a colour per country (the six that spent most, the rest as "other"), and a table of
the same numbers with each country's hourly budget. Who may see it: staff with the view
permission of SMS budget trips (superusers have it).
"""

from __future__ import annotations

import datetime as dt

from django.contrib import admin

from authenticator.admin.readonly import ReadOnly
from authenticator.core.budgets import UNLIMITED, country_limit, global_limit, sms_spend
from authenticator.core.limit_models import SmsBudgetTrip

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 760, 240, 48, 28, 12


def spend_chart(hours: list[int], spend: dict[str, list[int]]) -> dict:
    """Stacked bars of ``spend`` ({country: counts per hour}): the shapes and labels of an
    SVG, which the template writes out (autoescaped, like any other page text)."""
    ranked = sorted(spend, key=lambda c: -sum(spend[c]))
    series = [(c, spend[c]) for c in ranked[:6]]
    rest = [sum(spend[c][i] for c in ranked[6:]) for i in range(len(hours))]
    if any(rest):
        series.append(("other", rest))
    totals = [sum(values[i] for _, values in series) for i in range(len(hours))]
    peak = max(totals + [1])
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    bar = plot_w / max(len(hours), 1)
    chart: dict = {"width": WIDTH, "height": HEIGHT + 24, "left": LEFT, "right": WIDTH - 8, "grid": [], "bars": [],
                   "ticks": [], "legend": [], "empty": not series, "legend_y": HEIGHT + 8, "legend_text_y": HEIGHT + 17,
                   "tick_y": TOP + plot_h + 14}
    for tick in sorted({0, peak // 2, peak}):
        y = TOP + plot_h - plot_h * tick / peak
        chart["grid"].append({"y": f"{y:.1f}", "label_y": f"{y + 4:.1f}", "value": tick})
    for i, hour in enumerate(hours):
        x, base = LEFT + i * bar, TOP + plot_h
        at = dt.datetime.fromtimestamp(hour * 3600, tz=dt.timezone.utc)
        for n, (country, values) in enumerate(series):
            h = plot_h * values[i] / peak
            if h > 0:
                base -= h
                chart["bars"].append({"x": f"{x + 1:.1f}", "y": f"{base:.1f}", "w": f"{max(bar - 2, 1):.1f}",
                                      "h": f"{h:.1f}", "fill": COLOURS[n % len(COLOURS)],
                                      "title": f"{country} {at:%H}:00 UTC: {values[i]}"})
        if i % 3 == 0:
            chart["ticks"].append({"x": f"{x + bar / 2:.1f}", "label": f"{at:%H}h"})
    for n, (country, _values) in enumerate(series):
        chart["legend"].append({"x": LEFT + n * 90, "text_x": LEFT + n * 90 + 14, "fill": COLOURS[n % len(COLOURS)],
                                "label": country})
    return chart


def spend_rows(spend: dict[str, list[int]]) -> list[dict]:
    rows = []
    for country in sorted(spend, key=lambda c: -sum(spend[c])):
        limit = country_limit(country)
        rows.append({"country": country, "this_hour": spend[country][-1], "day": sum(spend[country]),
                     "budget": "no limit" if limit >= UNLIMITED else limit,
                     "tripped": limit < UNLIMITED and spend[country][-1] >= limit})
    return rows


@admin.register(SmsBudgetTrip)
class SmsBudgetTripAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("tripped_at", "budget", "scope", "limit", "window_start")
    list_filter = ("budget",)
    date_hierarchy = "tripped_at"
    ordering = ("-tripped_at",)

    def changelist_view(self, request, extra_context=None):
        hours, spend = sms_spend(hours=24)
        limit = global_limit()
        this_hour = sum(values[-1] for values in spend.values())
        context = {
            **(extra_context or {}),
            "title": "SMS spend and budget trips",
            "spend_chart": spend_chart(hours, spend),
            "spend_rows": spend_rows(spend),
            "global_this_hour": this_hour,
            "global_budget": "no limit" if limit >= UNLIMITED else limit,
        }
        return super().changelist_view(request, extra_context=context)
