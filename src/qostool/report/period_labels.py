"""The words of a report of a period of days, where a month's report speaks of the month.

A period's report uses the month's templates: these labels replace those that
say "month" (the title's "reporting month", the trend, the comparison with last
month, the method), so that the report says the dates instead and why it has no
trend. ``{month}`` in them is filled with the period's dates in words
(``Formatter.month`` of a period's key).
"""

from __future__ import annotations

from typing import Final

PERIOD_LABELS: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "report_month": "Kỳ báo cáo",
        "d_subtitle": "Kỳ báo cáo: {month}, trên địa bàn {area}",
        "s_tasks": "IV. Nhiệm vụ tiếp theo",
        "s_trend": "5. Diễn biến qua các tháng",
        "placeholder_tasks": "[Dự thảo: nêu các nhiệm vụ tiếp theo (hoặc khai báo next_tasks "
        "trong mục [report] của qostool.toml).]",
        "first_month": "Báo cáo theo khoảng ngày không có phần diễn biến qua các tháng: phần này "
        "so sánh các tháng đã phân tích, còn khoảng ngày này không phải một tháng.",
        "first_period": "Báo cáo theo khoảng ngày không có phần diễn biến qua các tháng: phần "
        "này so sánh các tháng đã phân tích, còn khoảng ngày này không phải một tháng.",
        "no_previous_month": "Báo cáo theo khoảng ngày không so sánh với tháng trước.",
        "no_5g": "Không có lượt đo 5G nào trong khoảng ngày này.",
        "period_singles": "lượt đo đơn lẻ trong khoảng ngày",
        "a_counts": "Số bản ghi của khoảng ngày được phân tích",
        "c_prev": "Tháng trước (không có với khoảng ngày)",
        "c_change": "Thay đổi (không có với khoảng ngày)",
        "k_tile_tests": "Dữ liệu tổng hợp theo ô lưới của Ookla (không dùng: số liệu theo quý)",
        "v_history_months": "Số tháng trước dùng để so sánh (không có với khoảng ngày)",
        "method_text": "Mỗi lượt đo đơn lẻ có ngày, xác định theo {timezone}, nằm trong khoảng "
        "ngày (kể cả ngày đầu và ngày cuối) được gán cho đúng một xã, phường, đặc khu theo tọa "
        "độ. Dữ liệu tổng hợp theo ô lưới của Ookla không được dùng: mỗi ô là số liệu tổng hợp "
        "của cả một quý, không cho biết về các ngày trong khoảng. Đánh giá so sánh {statistic} "
        "tốc độ tải xuống với mức tối thiểu, có tính khoảng tin cậy {confidence}: một xã, "
        "phường, đặc khu chưa đủ dữ liệu khi có ít hơn {min_tests} lượt đo hoặc ít hơn "
        "{min_devices} thiết bị; sát ngưỡng, chưa đủ cơ sở đánh giá khi khoảng tin cậy chứa mức "
        "tối thiểu. Khoảng tin cậy không bao giờ nhỏ hơn 0 và không được tính khi có ít hơn "
        "{min_tests} lượt đo. Mức tham chiếu 5G do Sở lựa chọn, chỉ để tham khảo.",
        "method_plain": "Mỗi lượt đo đơn lẻ có ngày (theo {timezone}) nằm trong khoảng ngày "
        "(kể cả ngày đầu và ngày cuối) được gán cho đúng một xã, phường, đặc khu theo vị trí "
        "đo. Dữ liệu tổng hợp theo ô lưới của Ookla không được dùng: mỗi ô là số liệu tổng hợp "
        "của cả một quý. Tốc độ tải xuống ({statistic}) của mỗi xã được so sánh với mức tối "
        "thiểu, có tính khoảng tin cậy {confidence}: xã có ít hơn {min_tests} lượt đo hoặc ít "
        "hơn {min_devices} thiết bị chưa đủ dữ liệu để đánh giá; xã có khoảng tin cậy chứa mức "
        "tối thiểu chưa đủ cơ sở để đánh giá.",
        "w_preflight_period_over": "Báo cáo sơ bộ: khoảng ngày {month} chưa kết thúc theo "
        "{timezone}, số liệu còn có thể thay đổi.",
    },
    "en": {
        "report_month": "Reporting period",
        "d_subtitle": "Reporting period: {month}, {area}",
        "s_tasks": "IV. Next tasks",
        "s_trend": "5. Month by month",
        "placeholder_tasks": "[Draft: state the next tasks (or set next_tasks in [report] of "
        "qostool.toml).]",
        "first_month": "A report of a period of days does not follow the change over the months: "
        "that part compares the months analysed, and this period is not a month.",
        "first_period": "A report of a period of days does not follow the change over the "
        "months: that part compares the months analysed, and this period is not a month.",
        "no_previous_month": "A period of days is not compared with last month.",
        "no_5g": "No 5G test in this period.",
        "period_singles": "single tests of the period",
        "a_counts": "Rows of the period analysed",
        "c_prev": "Last month (not for a period)",
        "c_change": "Change (not for a period)",
        "k_tile_tests": "Ookla (Speedtest) grid-tile aggregates (left out: quarterly aggregates)",
        "v_history_months": "Earlier months used for comparison (none for a period)",
        "method_text": "Every single test whose date in {timezone} lies in the period (the first "
        "and the last day included) is assigned to exactly one commune by its coordinates. Ookla "
        "tiles are left out: each is the aggregate of a whole quarter and says nothing about the "
        "days of the period. The assessment compares the {statistic} download speed with the "
        "minimum, with a {confidence} confidence interval: a commune has insufficient data with "
        "fewer than {min_tests} tests or fewer than {min_devices} devices, and is close to the "
        "threshold, without enough evidence, when the interval contains the minimum. The "
        "interval never goes below 0, and is not given below {min_tests} tests. The 5G reference "
        "level is the Department's choice, for reference only.",
        "method_plain": "Every single test whose date (in {timezone}) lies in the period (the "
        "first and the last day included) is assigned to exactly one commune, ward or special "
        "zone by where it was made. Ookla tiles are left out: each is the aggregate of a whole "
        "quarter. Each commune's download speed ({statistic}) is compared with the minimum, "
        "with a {confidence} confidence interval: a commune with fewer than {min_tests} tests "
        "or fewer than {min_devices} devices has not enough data to be assessed; a commune "
        "whose interval contains the minimum is too close to it to be assessed.",
        "w_preflight_period_over": "Preliminary report: the period {month} is not over yet in "
        "{timezone}; the figures may still change.",
    },
}
