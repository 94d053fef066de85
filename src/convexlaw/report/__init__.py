"""What people look at: figures of a plan (PNG, matplotlib) and the HTML study report.

``plot_plan``, ``plot_curves``, ``plot_optimum`` (``convexlaw.report.figures``) write one
PNG each; ``write_report`` (``convexlaw.report.html``) writes one self-contained HTML page
of a study — runs, curve fits, laws, the plan, the exam, convexity diagnostics.
"""

from convexlaw.report.figures import plot_curves, plot_optimum, plot_plan
from convexlaw.report.html import write_report

__all__ = ["plot_curves", "plot_optimum", "plot_plan", "write_report"]
