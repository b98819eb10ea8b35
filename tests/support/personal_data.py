"""Personal data a resident might type, and how each must look once masked (bot/domain/privacy.py)."""

ID_CARD, ID_MASKED = "42010619900101123X", "420106********123X"
MOBILE, MOBILE_MASKED = "13912345678", "139****5678"
LANDLINE, LANDLINE_MASKED = "027-87654321", "027-****4321"
EMAIL, EMAIL_MASKED = "zhang.san@example.com", "z***@example.com"
RAW = (ID_CARD, "19900101", MOBILE, "87654321", EMAIL)  # no part of them may show through
REPORT = (f"幸福小区3栋楼道灯坏了，身份证{ID_CARD}，电话{MOBILE}，座机{LANDLINE}，邮箱{EMAIL}，请尽快修")
