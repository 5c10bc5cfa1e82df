"""Words of the event report (``qostool event --report``), in Vietnamese and English.

Kept apart from the monthly report's labels (``report/i18n.py``): the event
report shares its number and date formats (:class:`~qostool.report.i18n.Formatter`)
but none of its sections. Both languages have the same keys (a test checks it).
``{name}`` placeholders are filled by :meth:`Formatter.fill`.
"""

from __future__ import annotations

from typing import Final

_VI: Final[dict[str, str]] = {
    "title": "Báo cáo sự kiện: kết nối di động trong {name}",
    "default_name": "thời gian sự kiện",
    "province": "Tỉnh",
    "window": "Thời gian sự kiện",
    "baseline": "Giai đoạn so sánh",
    "period_span": "{start} đến {end} ({days} ngày)",
    "days_note": "Ngày tính theo giờ địa phương ({timezone}), kể cả ngày đầu và ngày cuối.",
    "generated": "Ngày lập",
    "source_line": "Số liệu từ lượt đo tốc độ của người dân (i-Speed và các nguồn cộng đồng "
    "khác); chỉ dùng các lượt đo đơn lẻ trên mạng di động.",
    "contents": "Mục lục",
    "warnings_title": "Cảnh báo về số liệu",
    "w_empty_window_days": "Không có lượt đo nào trong toàn tỉnh vào các ngày {days} của thời "
    "gian sự kiện. Nếu số liệu của những ngày này chưa được nạp, mọi xã, phường sẽ có vẻ ít "
    "lượt đo hơn thực tế.",
    "w_empty_baseline_days": "{count} ngày của giai đoạn so sánh không có lượt đo nào trong toàn "
    "tỉnh; số lượt đo dự kiến có thể bị thấp (thiếu tệp số liệu?).",
    # sections
    "s_summary": "1. Tóm tắt",
    "s_maps": "2. Bản đồ tình trạng theo doanh nghiệp",
    "s_daily": "3. Diễn biến theo ngày",
    "s_silent": "4. Các xã, phường im lặng (không có lượt đo)",
    "s_degraded": "5. Các xã, phường suy giảm tốc độ",
    "s_method": "6. Phương pháp và giới hạn của số liệu",
    # statuses
    "status_silent": "im lặng",
    "status_degraded": "suy giảm tốc độ",
    "status_normal": "bình thường",
    "status_insufficient_data": "chưa đủ dữ liệu",
    # summary
    "headline": "Trong {days} ngày sự kiện, tính chung mọi doanh nghiệp: {silent} xã, phường im "
    "lặng, {degraded} xã, phường suy giảm tốc độ, {normal} bình thường và {insufficient} chưa "
    "đủ dữ liệu (trên {total} xã, phường).",
    "tests_line": "Số lượt đo di động: {baseline} trong giai đoạn so sánh ({per_day} mỗi ngày), "
    "{window} trong thời gian sự kiện ({window_per_day} mỗi ngày).",
    "left_out_line": "Không dùng: {tiles} ô tổng hợp Ookla ({tile_tests} lượt đo; mỗi ô là "
    "trung bình của cả quý, không cho biết từng ngày), {wifi} lượt đo Wi-Fi (đo đường truyền "
    "cố định) và {outside} lượt đo nằm ngoài ranh giới tỉnh.",
    "t_counts": "Số xã, phường theo tình trạng và doanh nghiệp",
    "c_operator": "Doanh nghiệp",
    "c_code": "Mã",
    "c_commune": "Xã, phường",
    "c_baseline_tests": "Lượt đo giai đoạn so sánh",
    "c_window_tests": "Lượt đo trong sự kiện",
    "c_expected": "Số lượt đo dự kiến",
    "c_p_zero": "Xác suất không có lượt đo nào",
    "c_baseline_median": "Trung vị giai đoạn so sánh (Mbps)",
    "c_window_median": "Trung vị trong sự kiện (Mbps)",
    "c_ratio": "Tỷ số trung vị",
    "c_ratio_interval": "Khoảng tin cậy của tỷ số",
    "c_date": "Ngày",
    "c_tests": "Số lượt đo",
    "c_median": "Trung vị tải xuống (Mbps)",
    "c_total": "Tổng",
    # maps and charts
    "maps_caption": "Tình trạng của từng xã, phường trong thời gian sự kiện, cho mọi doanh nghiệp "
    "cộng lại và cho từng doanh nghiệp. Tên được ghi cho các xã, phường im lặng hoặc suy giảm.",
    "no_map": "Không vẽ được bản đồ: ranh giới đã dùng không còn trong kho dữ liệu.",
    "daily_intro": "Số lượt đo và trung vị tốc độ tải xuống mỗi ngày trên toàn tỉnh, theo doanh "
    "nghiệp; phần tô màu là thời gian sự kiện.",
    "daily_caption": "Lượt đo mỗi ngày (trên) và trung vị tải xuống mỗi ngày (dưới; chỉ những "
    "ngày có ít nhất 5 lượt đo của doanh nghiệp).",
    "axis_tests": "Lượt đo mỗi ngày",
    "axis_median": "Trung vị tải xuống (Mbps)",
    "window_band": "Thời gian sự kiện",
    "t_window_days": "Các ngày của thời gian sự kiện",
    # lists
    "silent_intro": "Không có lượt đo nào trong thời gian sự kiện, trong khi với nhịp đo của giai "
    "đoạn so sánh thì dự kiến có ít nhất {min_expected} lượt đo (xác suất không có lượt đo nào "
    "do ngẫu nhiên dưới {p_max}). Đây là dấu hiệu, chưa phải bằng chứng, của mất kết nối: cần "
    "xác minh với doanh nghiệp.",
    "no_silent": "Không có xã, phường nào im lặng.",
    "degraded_intro": "Cả khoảng tin cậy {confidence} của tỷ số giữa trung vị tải xuống trong sự "
    "kiện và trung vị của giai đoạn so sánh đều dưới {ratio}.",
    "no_degraded": "Không có xã, phường nào suy giảm tốc độ.",
    # method
    "m_data": "Chỉ dùng lượt đo đơn lẻ trên mạng di động, có thời điểm đo riêng. Ô tổng hợp của "
    "Ookla là trung bình của cả một quý nên không cho biết gì về từng ngày và không được dùng; "
    "lượt đo Wi-Fi đo đường truyền cố định sau bộ phát nên cũng không được dùng. Mỗi lượt đo "
    "được gán cho một xã, phường theo ranh giới {boundaries}, như trong phân tích hằng tháng.",
    "m_baseline": "Giai đoạn so sánh mặc định là {baseline_days} ngày ngay trước sự kiện. Mỗi "
    "nhóm xã, phường x doanh nghiệp (và mọi doanh nghiệp cộng lại) được so sánh với chính nó "
    "trong giai đoạn so sánh.",
    "m_activity": "Hoạt động: số lượt đo dự kiến = số lượt đo mỗi ngày trong giai đoạn so sánh x "
    "số ngày của sự kiện. Nếu số lượt đo tuân theo phân phối Poisson với trung bình đó, xác suất "
    "không có lượt đo nào là exp(-dự kiến). Một nhóm là «im lặng» khi không có lượt đo nào trong "
    "sự kiện và số dự kiến từ {min_expected} trở lên (xác suất dưới {p_max}); với số dự kiến nhỏ "
    "hơn, không có lượt đo nào là chuyện bình thường nên không kết luận về hoạt động.",
    "m_speed": "Tốc độ: tỷ số giữa trung vị tải xuống trong sự kiện và trung vị của giai đoạn so "
    "sánh, với khoảng tin cậy {confidence} tính bằng bootstrap: lấy mẫu lại có hoàn lại, độc lập, "
    "các lượt đo của hai giai đoạn {resamples} lần, lấy phân vị của tỷ số các trung vị (hạt giống "
    "cố định {seed}, nên kết quả giống nhau mỗi lần chạy). Một nhóm «suy giảm tốc độ» khi cả "
    "khoảng tin cậy nằm dưới {ratio}. Tỷ số chỉ được xét khi giai đoạn so sánh có ít nhất "
    "{min_baseline} lượt đo và sự kiện có ít nhất {min_window} lượt đo.",
    "m_status": "Thứ tự ưu tiên: im lặng, rồi suy giảm tốc độ, rồi bình thường. «Chưa đủ dữ liệu» "
    "chỉ khi không xét được cả hoạt động lẫn tốc độ: giai đoạn so sánh cho dưới {min_expected} "
    "lượt đo dự kiến, và tỷ số trung vị không được xét (dưới {min_baseline} lượt đo trong giai "
    "đoạn so sánh hoặc dưới {min_window} lượt đo trong sự kiện). Một xã, phường có ít lượt đo "
    "trong giai đoạn so sánh vẫn có thể im lặng nếu số dự kiến đủ lớn.",
    "m_limits_title": "Số liệu cộng đồng nói được gì và không nói được gì về sự cố",
    "m_rule_table": "Ngưỡng đã dùng",
    "r_min_expected": "Số lượt đo dự kiến tối thiểu để kết luận im lặng",
    "r_degraded_ratio": "Ngưỡng tỷ số trung vị (suy giảm khi cả khoảng tin cậy dưới ngưỡng)",
    "r_min_baseline_tests": "Số lượt đo tối thiểu của giai đoạn so sánh để xét tốc độ",
    "r_min_window_tests": "Số lượt đo tối thiểu trong sự kiện để xét tốc độ",
    "r_confidence": "Độ tin cậy của khoảng",
    "r_resamples": "Số lần lấy mẫu lại (bootstrap)",
    "r_seed": "Hạt giống ngẫu nhiên",
    "r_boundaries": "Ranh giới",
    "r_tool": "Phiên bản qostool",
}

_EN: Final[dict[str, str]] = {
    "title": "Event report: mobile connectivity during {name}",
    "default_name": "the event",
    "province": "Province",
    "window": "Event window",
    "baseline": "Baseline",
    "period_span": "{start} to {end} ({days} days)",
    "days_note": "Days are local days ({timezone}), first and last day included.",
    "generated": "Generated",
    "source_line": "Data: speed tests made by the public (i-Speed and other crowdsourced "
    "sources); single tests on the mobile network only.",
    "contents": "Contents",
    "warnings_title": "Warnings about the data",
    "w_empty_window_days": "No test at all in the province on {days} of the event window. If "
    "the exports of those days are not ingested yet, every commune looks quieter than it was.",
    "w_empty_baseline_days": "{count} baseline day(s) without any test in the province: the "
    "expected numbers may be too low (missing exports?).",
    "s_summary": "1. Summary",
    "s_maps": "2. Map of statuses by operator",
    "s_daily": "3. Day by day",
    "s_silent": "4. Silent communes (no tests)",
    "s_degraded": "5. Communes with degraded speed",
    "s_method": "6. Method and the limits of the data",
    "status_silent": "silent",
    "status_degraded": "degraded",
    "status_normal": "normal",
    "status_insufficient_data": "insufficient data",
    "headline": "Over the {days} days of the event, all operators together: {silent} communes "
    "silent, {degraded} degraded, {normal} normal and {insufficient} with insufficient data "
    "(of {total} communes).",
    "tests_line": "Mobile tests: {baseline} in the baseline ({per_day} per day), {window} in "
    "the event window ({window_per_day} per day).",
    "left_out_line": "Left out: {tiles} Ookla tiles ({tile_tests} tests; each is a quarter's "
    "mean and says nothing about a day), {wifi} Wi-Fi tests (they measure the fixed line) and "
    "{outside} tests outside the province's boundaries.",
    "t_counts": "Communes by status and operator",
    "c_operator": "Operator",
    "c_code": "Code",
    "c_commune": "Commune",
    "c_baseline_tests": "Baseline tests",
    "c_window_tests": "Event tests",
    "c_expected": "Expected tests",
    "c_p_zero": "Chance of no test",
    "c_baseline_median": "Baseline median (Mbps)",
    "c_window_median": "Event median (Mbps)",
    "c_ratio": "Median ratio",
    "c_ratio_interval": "Interval of the ratio",
    "c_date": "Date",
    "c_tests": "Tests",
    "c_median": "Median download (Mbps)",
    "c_total": "Total",
    "maps_caption": "Status of each commune over the event window, for all operators together "
    "and for each operator. Silent and degraded communes are named.",
    "no_map": "No map: the boundaries used are no longer in the store.",
    "daily_intro": "Tests and median download per day in the whole province, by operator; the "
    "shaded band is the event window.",
    "daily_caption": "Tests per day (top) and median download per day (bottom; only days with "
    "at least 5 tests of the operator).",
    "axis_tests": "Tests per day",
    "axis_median": "Median download (Mbps)",
    "window_band": "Event window",
    "t_window_days": "The days of the event window",
    "silent_intro": "No test in the event window, although the baseline's rate of testing made "
    "at least {min_expected} expected (a chance of no test by luck below {p_max}). This is "
    "evidence of an outage, not proof: check with the operator.",
    "no_silent": "No commune was silent.",
    "degraded_intro": "The whole {confidence} interval of the ratio of the event's median "
    "download to the baseline's is below {ratio}.",
    "no_degraded": "No commune's speed was degraded.",
    "m_data": "Only single tests on the mobile network, each with its own time, are used. Ookla "
    "tiles are a whole quarter's mean, so they say nothing about a day and are left out; Wi-Fi "
    "tests measure the fixed line behind the router and are left out too. Each test is "
    "assigned to a commune of the boundaries {boundaries}, as in the monthly analysis.",
    "m_baseline": "The baseline is by default the {baseline_days} days just before the event. "
    "Each commune x operator group (and all operators together) is compared with itself in the "
    "baseline.",
    "m_activity": "Activity: expected tests = the baseline's tests per day x the event's days. "
    "If tests arrive as a Poisson process at that rate, the chance of no test at all is "
    "exp(-expected). A group is 'silent' when it had no test in the event although "
    "{min_expected} or more were expected (a chance below {p_max}); with fewer expected, no "
    "test is unremarkable, and activity is not judged.",
    "m_speed": "Speed: the ratio of the event's median download to the baseline's, with a "
    "{confidence} interval from a bootstrap: the tests of the two periods are resampled with "
    "replacement, independently, {resamples} times, and the interval is the percentiles of the "
    "ratio of the medians (a fixed seed, {seed}, so every run gives the same interval). A group "
    "is 'degraded' when the whole interval is below {ratio}. The ratio is judged only with at "
    "least {min_baseline} baseline tests and at least {min_window} event tests.",
    "m_status": "Priority: silent, then degraded, then normal. 'Insufficient data' only when "
    "neither activity nor speed can be judged: fewer than {min_expected} expected tests, and no "
    "median ratio (fewer than {min_baseline} baseline tests or fewer than {min_window} event "
    "tests). A commune with few baseline tests can still be silent if enough were expected.",
    "m_limits_title": "What crowdsourced tests can and cannot say about an outage",
    "m_rule_table": "Thresholds used",
    "r_min_expected": "Expected tests needed to call a commune silent",
    "r_degraded_ratio": "Median ratio threshold (degraded when the whole interval is below)",
    "r_min_baseline_tests": "Baseline tests needed to judge speed",
    "r_min_window_tests": "Event tests needed to judge speed",
    "r_confidence": "Confidence of the interval",
    "r_resamples": "Bootstrap resamples",
    "r_seed": "Random seed",
    "r_boundaries": "Boundaries",
    "r_tool": "qostool version",
}

EVENT_LABELS: Final[dict[str, dict[str, str]]] = {"vi": _VI, "en": _EN}

#: What crowdsourced tests can and cannot say about an outage, one paragraph each.
EVENT_LIMITS: Final[dict[str, tuple[str, ...]]] = {
    "vi": (
        "Lượt đo do người dân tự thực hiện, không phải do thiết bị giám sát cố định. Trong bão, "
        "người dân đo ít hơn (mất điện, sơ tán, lo việc khác), nên số lượt đo giảm ngay cả khi "
        "mạng vẫn hoạt động. Vì vậy «im lặng» là dấu hiệu, không phải bằng chứng của mất kết "
        "nối.",
        "Ngược lại, một lượt đo thành công chỉ cho thấy có kết nối tại một điểm, vào một lúc; "
        "xã, phường «bình thường» vẫn có thể có những thôn bị mất sóng.",
        "Lượt đo chỉ được gửi khi có kết nối: một số ứng dụng lưu lại và gửi sau, nên lượt đo "
        "có thể đến muộn. Nếu số liệu của những ngày cuối chưa được nạp đầy đủ, mọi nơi đều có "
        "vẻ im lặng hơn thực tế; nên chạy lại sau khi nạp đủ.",
        "Số lượt đo ít làm khoảng tin cậy rộng: «bình thường» nghĩa là không phát hiện được "
        "bất thường, không phải là đã chứng minh mọi thứ ổn.",
        "Báo cáo này giúp chọn nơi cần hỏi doanh nghiệp và kiểm tra tại chỗ (ví dụ các trạm phát "
        "sóng dự phòng), không thay thế số liệu vận hành của doanh nghiệp.",
    ),
    "en": (
        "Tests are made by people when they choose to, not by monitoring probes. In a storm "
        "people test less (power cuts, evacuation, other worries), so tests drop even where "
        "the network works. 'Silent' is therefore evidence of an outage, not proof.",
        "The other way round, a successful test only shows a connection at one place and one "
        "moment; a 'normal' commune may still have villages without signal.",
        "A test is only sent when there is a connection: some apps keep it and send it later, "
        "so tests can arrive late. If the last days' exports are not all ingested, every place "
        "looks quieter than it was; run again once they are.",
        "Few tests make wide intervals: 'normal' means that nothing unusual was detected, not "
        "that all was shown to be well.",
        "This report helps choose where to ask the operators and to check on the ground (for "
        "example backup base stations); it does not replace the operators' own network data.",
    ),
}
