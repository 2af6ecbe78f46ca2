"""Surveys: NPS, CSAT and Kano questionnaires, signed expiring answer links, the public answer
page, and the reports (NPS over time and by segment, CSAT by case category, Kano per feature)."""
