"""Words of the "5G by operator" section and of ``report --operator``, in Vietnamese and English.

Kept apart from the monthly report's labels (``report/i18n.py``) so that the
section can be added, changed or dropped on its own; the templates see them as
``R`` (``{{ R.s_rollout }}``). Both languages have the same keys (a test checks it).
``{name}`` placeholders are filled by the ``fill`` filter.
"""

from __future__ import annotations

from typing import Final

_VI: Final[dict[str, str]] = {
    "s_rollout": "Triển khai 5G theo doanh nghiệp",
    "presence_note": "Một lượt đo 5G cho thấy mạng 5G của doanh nghiệp có mặt tại xã, phường, "
    "đặc khu đó (một điện thoại đã dùng 5G ở đó ít nhất một lần trong tháng), không cho thấy "
    "vùng phủ sóng: nơi có lượt đo 5G chưa chắc được phủ sóng 5G toàn bộ, và nơi không có lượt "
    "đo 5G vẫn có thể có sóng 5G.",
    "since_note": "“Lần đầu” nghĩa là lần đầu kể từ {since}, tháng đầu tiên có kết quả phân tích "
    "được lưu; xã, phường, đặc khu được đối chiếu giữa các tháng theo mã.",
    "population_unknown": "Một số xã, phường, đặc khu chưa có số dân, nên tỷ lệ dân số chưa xác "
    "định được.",
    "no_operators": "Không có lượt đo của doanh nghiệp nào được nêu tên.",
    "t_rollout": "Triển khai 5G theo doanh nghiệp, {month}",
    "c_operator": "Doanh nghiệp",
    "c_5g_now": "Xã, phường, đặc khu có 5G trong tháng",
    "c_5g_new": "Lần đầu có 5G",
    "c_5g_again": "Đã có từ trước",
    "c_5g_ever": "Tổng số đến nay",
    "c_share_communes": "Tỷ lệ xã, phường, đặc khu",
    "c_share_population": "Tỷ lệ dân số",
    "c_share_tests_5g": "Tỷ lệ lượt đo 5G",
    "c_median_5g": "Trung vị tải xuống 5G (Mbps)",
    "c_month": "Tháng",
    "c_code": "Mã",
    "c_commune": "Xã, phường, đặc khu",
    "c_status": "Tình trạng 5G",
    "c_first_month": "Tháng đầu có 5G",
    "c_tests_5g": "Lượt đo 5G trong tháng",
    "now_ever": "trong tháng / đến nay",
    "t_series": "{operator}: 12 tháng",
    "series_note": "Số liệu mỗi tháng lấy theo kết quả phân tích chính thức được lưu của tháng "
    "đó; tháng chưa phân tích không có trong bảng.",
    "new_communes": "Xã, phường, đặc khu có 5G của {operator} lần đầu trong tháng này:",
    "no_new_communes": "Không có xã, phường, đặc khu nào có 5G của {operator} lần đầu trong "
    "tháng này.",
    "map_title": "Sự hiện diện 5G của {operator}, {month}",
    "map_unavailable": "Không vẽ được bản đồ (không tìm thấy ranh giới đã dùng).",
    "status_new": "lần đầu trong tháng này",
    "status_again": "có trong tháng, đã có từ trước",
    "status_earlier": "đã có trước đây, không có trong tháng",
    "status_never": "chưa từng có",
    "legend_note": "Bản đồ: màu cam: lần đầu có lượt đo 5G trong tháng này; tím đậm: có trong "
    "tháng và đã có từ trước; tím nhạt: đã có trước đây, tháng này không có; trắng: chưa từng có.",
    "pct_of": "{share} ({count} / {total})",
    # report --operator
    "op_title": "Báo cáo chất lượng Internet di động theo doanh nghiệp: {operator}",
    "op_intro": "Báo cáo này chỉ gồm số liệu của doanh nghiệp {operator}, để theo dõi cam kết "
    "với doanh nghiệp; báo cáo chung của tỉnh gồm mọi doanh nghiệp.",
    "op_s_summary": "1. Kết quả của doanh nghiệp",
    "op_s_verdicts": "2. Kết quả theo xã, phường, đặc khu",
    "op_s_below": "3. Các xã, phường, đặc khu chưa đạt mức tối thiểu",
    "op_s_rollout": "4. Triển khai 5G",
    "op_s_method": "5. Phương pháp",
    "op_verdicts_note": "Mỗi dòng là một xã, phường, đặc khu và một công nghệ có mức tối thiểu "
    "hoặc mức tham chiếu, chỉ với các lượt đo của {operator}; đánh giá theo cùng quy tắc với báo "
    "cáo chung.",
    "op_no_tests": "Xã, phường, đặc khu không có lượt đo nào của {operator} trong tháng:",
    "op_no_below": "Không có xã, phường, đặc khu nào chưa đạt mức tối thiểu.",
    "op_communes_table": "Tình trạng 5G từng xã, phường, đặc khu",
    "op_method": "Lượt đo, quy tắc đánh giá và số liệu vào như báo cáo chung của tỉnh cùng tháng "
    "(phụ lục của báo cáo đó); mức tối thiểu và mức tham chiếu: {targets}; thống kê so sánh: "
    "{statistic}; tối thiểu {tests} lượt đo và {devices} thiết bị.",
    "c_verdict_count": "Số xã, phường, đặc khu",
    "c_technology": "Công nghệ",
    "not_commercial": "{operator} chưa được ghi là doanh nghiệp cung cấp dịch vụ 5G thương mại: "
    "các lượt đo 5G của doanh nghiệp này cần xác minh dữ liệu (loại mạng do điện thoại ghi nhận "
    "sai, chuyển vùng hoặc mạng thử nghiệm) và không được đánh giá.",
}

_EN: Final[dict[str, str]] = {
    "s_rollout": "5G roll-out by operator",
    "presence_note": "A 5G test shows that the operator's 5G is present in a commune (a phone "
    "used 5G there at least once in the month), not that the commune is covered: a commune "
    "with 5G tests need not be covered throughout, and a commune without any may still have "
    "5G signal.",
    "since_note": "“For the first time” means for the first time since {since}, the first "
    "month with a stored analysis; communes are matched across months by their code.",
    "population_unknown": "Some communes have no population figure, so the population shares "
    "are unknown.",
    "no_operators": "No test of a named operator.",
    "t_rollout": "5G roll-out by operator, {month}",
    "c_operator": "Operator",
    "c_5g_now": "Communes with 5G this month",
    "c_5g_new": "For the first time",
    "c_5g_again": "Seen before",
    "c_5g_ever": "Total so far",
    "c_share_communes": "Share of communes",
    "c_share_population": "Share of population",
    "c_share_tests_5g": "5G share of tests",
    "c_median_5g": "5G median download (Mbps)",
    "c_month": "Month",
    "c_code": "Code",
    "c_commune": "Commune",
    "c_status": "5G presence",
    "c_first_month": "First month with 5G",
    "c_tests_5g": "5G tests this month",
    "now_ever": "this month / so far",
    "t_series": "{operator}: 12 months",
    "series_note": "Each month from that month's stored official analysis; months not "
    "analysed are not in the table.",
    "new_communes": "Communes with {operator}'s 5G for the first time this month:",
    "no_new_communes": "No commune has {operator}'s 5G for the first time this month.",
    "map_title": "{operator}'s 5G presence, {month}",
    "map_unavailable": "The map cannot be drawn (the boundaries used were not found).",
    "status_new": "new this month",
    "status_again": "this month, seen before",
    "status_earlier": "seen before, not this month",
    "status_never": "never",
    "legend_note": "Map: orange: a 5G test for the first time this month; dark purple: this "
    "month and seen before; light purple: seen before, not this month; white: never.",
    "pct_of": "{share} ({count} / {total})",
    "op_title": "Mobile internet quality report by operator: {operator}",
    "op_intro": "This report holds the figures of {operator} only, for following an agreement "
    "with the operator; the province's report covers every operator.",
    "op_s_summary": "1. The operator's results",
    "op_s_verdicts": "2. Results by commune",
    "op_s_below": "3. Communes below the minimum",
    "op_s_rollout": "4. 5G roll-out",
    "op_s_method": "5. Method",
    "op_verdicts_note": "One row per commune and technology with a minimum or a reference level, "
    "from {operator}'s tests alone; assessed by the same rule as the province's report.",
    "op_no_tests": "Communes without any {operator} test this month:",
    "op_no_below": "No commune below the minimum.",
    "op_communes_table": "5G presence per commune",
    "op_method": "Tests, rule and input data are those of the province's report of the same "
    "month (see its annex); minimum and reference levels: {targets}; statistic: {statistic}; at "
    "least {tests} tests and {devices} devices.",
    "c_verdict_count": "Communes",
    "c_technology": "Technology",
    "not_commercial": "{operator} is not listed as an operator with a commercial 5G network: its "
    "5G tests are data to be verified (a phone's wrong network type, roaming or a trial network) "
    "and are not assessed.",
}

ROLLOUT_LABELS: Final[dict[str, dict[str, str]]] = {"vi": _VI, "en": _EN}
