"""How exact numbers are kept: money in ten-thousandths, quantities in thousandths."""

MONEY_SCALE = 4
QUANTITY_SCALE = 3
