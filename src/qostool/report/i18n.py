"""Words and number formats of the report, in Vietnamese (the default) and English.

Every label a template shows comes from :data:`LABELS` (one dictionary per
language, with the same keys), and every number, date and code is turned into
text by a :class:`Formatter` of the report's language. A missing value always
becomes words ("không có dữ liệu" / "no data"), never a blank, ``nan`` or
``None``.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any, Final

LANGUAGES: Final = ("vi", "en")
#: A blank to fill in by hand (a document's number and date): non-breaking spaces,
#: which neither Word, HTML nor Markdown collapse.
BLANK: Final = "\u00a0" * 6
DEFAULT_LANGUAGE: Final = "vi"

_VI: Final[dict[str, str]] = {
    # document
    "title": "Báo cáo chất lượng Internet di động",
    "province": "Tỉnh",
    "report_month": "Tháng báo cáo",
    "generated": "Ngày lập",
    "contents": "Mục lục",
    "source_line": "Số liệu từ các lượt đo tốc độ của người dân trên địa bàn: {sources}. Kết quả "
    "phản ánh trải nghiệm thực tế của người sử dụng, dùng để tham khảo; không phải kết quả đo "
    "kiểm chất lượng dịch vụ theo QCVN 81:2019/BTTTT.",
    # warnings about the data, on page 1
    "warnings_title": "Cảnh báo về số liệu",
    "w_outside_boundaries": "{outside} trong số {singles} lượt đo đơn lẻ của tháng ({share}) nằm "
    "ngoài ranh giới các xã, phường, đặc khu ({boundaries}). Cần kiểm tra ranh giới và nguồn số "
    "liệu có đúng của tỉnh hay không trước khi sử dụng báo cáo.",
    "w_forced": "Báo cáo được lập dù kiểm tra không đạt: ",
    "w_preflight_configured_rule": "phân tích được lập với điều kiện khác cấu hình: {differs}; "
    "đây là phương án thử, không phải kết quả chính thức của tháng.",
    "w_preflight_configured_rule_chosen": "Phân tích chính thức của tháng được chọn có chủ đích "
    "với điều kiện khác cấu hình: {differs}.",
    "w_preflight_configured_rule_variant": "Điều kiện của phương án thử khác cấu hình: {differs}.",
    "w_preflight_official_variant": "Báo cáo này lập từ phương án thử «{name}» (mã {id}, lập "
    "{made}), KHÔNG phải phân tích chính thức của tháng.",
    "w_preflight_official_earlier": "Báo cáo này lập từ một phân tích chính thức trước đây (mã "
    "{id}, lập {made}), đã được thay thế bằng phân tích mới hơn {replaced}.",
    "page_variant": "PHƯƠNG ÁN THỬ «{name}», không phải kết quả chính thức: {differs}",
    "page_earlier": "PHÂN TÍCH CHÍNH THỨC TRƯỚC ĐÂY (mã {id}), đã được thay thế {replaced}",
    "differ_item": "{term} {value} (cấu hình: {configured})",
    "term_target": "ngưỡng {tech}",
    "term_statistic": "đại lượng so sánh",
    "term_min_tests": "số lượt đo tối thiểu",
    "term_min_devices": "số thiết bị tối thiểu",
    "term_min_share": "tỷ lệ đạt tối thiểu",
    "term_confidence": "độ tin cậy",
    "term_peak_hours": "giờ cao điểm",
    "term_tolerance_m": "dung sai ranh giới (m)",
    "term_dedupe_bursts": "gộp các lượt đo lặp liên tiếp",
    "term_boundaries": "ranh giới",
    "term_preset": "quy tắc",
    "w_preflight_up_to_date": "số liệu phân tích chưa cập nhật ({what}).",
    "w_new_files": "{count} tệp được nạp sau khi phân tích",
    "w_new_boundaries": "ranh giới mới {version}",
    "w_preflight_same_boundaries": "ranh giới dùng cho tháng này ({boundaries}) khác với ranh "
    "giới của {previous_month} ({previous_boundaries}); số liệu hai tháng không so sánh trực "
    "tiếp được.",
    "w_preflight_communes_kept": "{count} xã, phường, đặc khu có lượt đo trong {previous_month} "
    "nhưng không có lượt đo nào trong tháng này: {names}.",
    "w_preflight_month_over": "Báo cáo sơ bộ: {month} chưa kết thúc theo {timezone}, số liệu còn "
    "có thể thay đổi.",
    # the administrative document (header, addressees, opening, signature; document.py)
    "d_number": "Số: {number}/{symbol}",
    "d_motto_gloss": "",
    "d_motto_sub_gloss": "",
    "d_place_date": "{place}, {date}",
    "d_date_blank": "ngày{blank}tháng{blank}năm{blank}",
    "d_subtitle": "Kỳ báo cáo: {month}, trên địa bàn {area}",
    "d_recipient": "Kính gửi:",
    "d_recipients_title": "Nơi nhận:",
    "d_period": "Số liệu từ {start} đến hết {end}.",
    "d_generated": "Thời điểm qostool lập các tệp báo cáo",
    "doc_parent_province": "UBND tỉnh {name}",
    "doc_parent_city": "UBND thành phố {name}",
    "doc_area_province": "tỉnh {name}",
    "doc_area_city": "thành phố {name}",
    "doc_committee_province": "Ủy ban nhân dân tỉnh {name}",
    "doc_committee_city": "Ủy ban nhân dân thành phố {name}",
    "doc_authority": "Cục Viễn thông, Bộ Khoa học và Công nghệ",
    "doc_issuer": "Sở Khoa học và Công nghệ",
    "doc_signer": "GIÁM ĐỐC",
    "doc_as_above": "Như trên",
    "doc_archive": "Lưu: VT",
    "doc_opening": "Thực hiện {basis}; trên cơ sở số liệu đo tốc độ Internet di động của "
    "người dân trên địa bàn {area} từ ngày {start} đến hết ngày {end}, {issuer} báo cáo như sau:",
    "doc_basis_default": "[Chỉ thị số …/CT-UBND ngày … của Ủy ban nhân dân {area} và Văn bản số "
    "2138/BTTTT-CVT ngày 03/6/2024 của Bộ Thông tin và Truyền thông; dự thảo: kiểm tra, ghi "
    "đúng số, ngày của văn bản]",
    "doc_annex_line": "(Kèm theo Báo cáo số {number}/{symbol} ngày {date} của {issuer})",
    # the structure of the report: sections I-V, the closing, the annexes
    "s_uptake": "I. Tình hình triển khai",
    "s_results": "II. Kết quả đo, đánh giá",
    "s_province": "1. Kết quả chung trên địa bàn {area}",
    "s_operators": "2. Kết quả theo doanh nghiệp",
    "s_communes": "3. Kết quả theo xã, phường, đặc khu",
    "s_5g": "4. Mạng 5G (để tham khảo)",
    "s_trend": "5. Diễn biến qua các tháng",
    "s_assessment": "III. Đánh giá chung",
    "s_achieved": "1. Kết quả đạt được",
    "s_shortcomings": "2. Tồn tại, hạn chế và nguyên nhân",
    "s_tasks": "IV. Nhiệm vụ tháng tới",
    "s_proposals": "V. Đề xuất, kiến nghị",
    "closing": "./.",
    "placeholder_tasks": "[Dự thảo: nêu các nhiệm vụ của tháng tới (hoặc khai báo next_tasks "
    "trong mục [report] của qostool.toml).]",
    "placeholder_shortcomings": "[Dự thảo: nêu tồn tại, hạn chế và nguyên nhân.]",
    "placeholder_proposals": "[Dự thảo: nêu các đề xuất, kiến nghị.]",
    "annex": "Phụ lục {n}",
    "annex_communes": "Kết quả đo theo xã, phường, đặc khu",
    "annex_4g": "1. Mạng 4G (tất cả doanh nghiệp)",
    "annex_5g": "2. Mạng 5G (để tham khảo)",
    "annex_below": "Các xã, phường, đặc khu chưa đạt mức tối thiểu, theo doanh nghiệp",
    "annex_thin": "Các xã, phường, đặc khu chưa đủ dữ liệu hoặc không có lượt đo",
    "annex_adoption": "Tình hình sử dụng ứng dụng đo theo xã, phường, đặc khu",
    "annex_method": "Phương pháp và chất lượng số liệu",
    "see_annex": "Chi tiết tại Phụ lục {n}.",
    "see_annexes": "Chi tiết tại Phụ lục {n} và Phụ lục {m}.",
    "t_caption": "Bảng {n}. {title}",
    "unit_mbps": "Đơn vị tính: Mbps",
    "c_ordinal": "TT",
    "method_plain": "Mỗi lượt đo trong tháng (theo {timezone}) được gán cho đúng một xã, "
    "phường, đặc khu theo vị trí đo. Tốc độ tải xuống ({statistic}) của mỗi xã được so sánh "
    "với mức tối thiểu, có tính khoảng tin cậy {confidence}: xã có ít hơn {min_tests} lượt đo "
    "hoặc ít hơn {min_devices} thiết bị chưa đủ số liệu để đánh giá; xã có khoảng tin cậy chứa "
    "mức tối thiểu chưa đủ cơ sở để đánh giá.",
    "technical_note": "Thông tin kỹ thuật để kiểm tra lại kết quả (các tệp số liệu đầu vào và "
    "mã kiểm tra của từng tệp, số bản ghi bị loại theo lý do, quy tắc đánh giá, phiên bản "
    "ranh giới và phần mềm) được lập thành tệp riêng «{file}», lưu cùng thư mục với báo cáo.",
    "technical_title": "Thông tin kỹ thuật của báo cáo",
    "technical_intro": "Tệp này đi kèm «{title}» ({month}, {area}) và ghi các thông tin "
    "kỹ thuật để kiểm tra lại kết quả; báo cáo gửi đi không cần kèm tệp này.",
    # summary
    "k_tests": "Lượt đo trên mạng di động (i-Speed và các nguồn đo từng lượt)",
    "k_tile_tests": "Dữ liệu tổng hợp theo ô lưới của Ookla (Speedtest), thống kê riêng: số lượt "
    "đo",
    "k_wifi_tests": "Lượt đo Wi-Fi (thống kê riêng)",
    "k_devices": "Số thiết bị đã đo",
    "k_communes_with_data": "Xã, phường, đặc khu có lượt đo",
    "k_communes_without_data": "Xã, phường, đặc khu không có lượt đo nào trên mạng di động",
    "headline": "{meets}/{total} xã, phường, đặc khu{percent} đạt mức tối thiểu về tốc độ tải "
    "xuống trung bình 4G ({target} Mbps); {below} chưa đạt; {inconclusive} sát ngưỡng, chưa đủ "
    "cơ sở đánh giá; {insufficient} chưa đủ dữ liệu{no_tests}.",
    "headline_median": "{meets}/{total} xã, phường, đặc khu{percent} đạt mức tối thiểu về tốc độ "
    "tải xuống trung vị 4G ({target} Mbps); {below} chưa đạt; {inconclusive} sát ngưỡng, chưa đủ "
    "cơ sở đánh giá; {insufficient} chưa đủ dữ liệu{no_tests}.",
    "headline_share": "{meets}/{total} xã, phường, đặc khu{percent} đạt mức tối thiểu 4G (ít "
    "nhất {share} số lượt đo có tốc độ tải xuống từ {target} Mbps trở lên); {below} chưa đạt; "
    "{inconclusive} sát ngưỡng, chưa đủ cơ sở đánh giá; {insufficient} chưa đủ dữ liệu{no_tests}.",
    "headline_no_technology": "Các lượt đo trên mạng di động của tháng không ghi công nghệ (chỉ "
    "có dữ liệu tổng hợp theo ô lưới của Ookla, không xác định công nghệ), nên chưa đánh giá "
    "được theo mức tối thiểu 4G. Toàn bộ mạng di động: {tests} lượt đo tại {with_tests}/{total} "
    "xã, phường, đặc khu; tốc độ tải xuống trung bình {mean} Mbps.",
    "compare_line": "Theo {rule} ({terms}): {meets} xã, phường, đặc khu đạt mức tối thiểu 4G, "
    "{below} chưa đạt, {inconclusive} sát ngưỡng, {insufficient} chưa đủ dữ liệu hoặc không có "
    "lượt đo; {differ}/{total} xã, phường, đặc khu có đánh giá khác báo cáo này (cột «{column}», "
    "mục 3).",
    "rule_terms": "{statistic}, tối thiểu {min_tests} lượt đo và {min_devices} thiết bị",
    "rule_vnnic": "quy tắc quốc gia (VNNIC)",
    "rule_province": "quy tắc của tỉnh",
    "c_verdict_compared": "Đánh giá 4G theo {rule}",
    "t_key_figures": "Số liệu chính",
    "t_verdicts": "Số xã, phường, đặc khu theo kết quả đánh giá",
    "t_province": "Tốc độ tải xuống toàn tỉnh theo công nghệ",
    "change_note": "Thay đổi so với tháng trước: tháng trước được tính lại với cùng quy tắc và "
    "cùng ranh giới; không tính thay đổi khi một trong hai tháng có ít lượt đo hơn số lượt đo "
    "tối thiểu để đánh giá. Dữ liệu ô lưới Ookla là số liệu theo quý, giống nhau cho cả ba tháng "
    "của quý: khi hai tháng dựa trên cùng các ô, không tính thay đổi; khi cả hai tháng gồm cùng "
    "các ô của quý, thay đổi chỉ do các lượt đo đơn lẻ và được ghi «chung dữ liệu ô lưới».",
    "no_previous_month": "Chưa có số liệu tháng trước để so sánh.",
    # columns
    "c_technology": "Công nghệ",
    "c_operator": "Doanh nghiệp",
    "c_tests": "Số lượt đo",
    "c_devices": "Thiết bị (tối thiểu–tối đa)",
    "c_devices_min": "Thiết bị, tối thiểu",
    "c_devices_max": "Thiết bị, tối đa",
    "c_mean": "Trung bình (Mbps)",
    "c_median": "Trung vị (Mbps)",
    "c_p10": "Bách phân vị thứ 10 (P10, Mbps)",
    "c_p90": "Bách phân vị thứ 90 (P90, Mbps)",
    "c_interval": "Khoảng tin cậy (Mbps)",
    "c_target": "Mức tối thiểu (Mbps)",
    "c_verdict": "Đánh giá",
    "c_prev": "Tháng trước (Mbps)",
    "c_change": "Thay đổi (Mbps)",
    "c_months_below": "Số kỳ số liệu liên tiếp chưa đạt (một quý dữ liệu ô lưới Ookla tính một "
    "lần)",
    "c_data_period": "Số liệu",
    "c_code": "Mã",
    "c_commune": "Xã, phường, đặc khu",
    "c_type": "Loại",
    "c_population": "Dân số",
    "c_tests_4g": "Lượt đo 4G",
    "c_mean_4g": "Trung bình 4G (Mbps)",
    "c_verdict_4g": "Đánh giá 4G",
    "c_tests_5g": "Lượt đo 5G",
    "c_share_5g": "Tỷ lệ lượt đo 5G",
    "c_mean_5g": "Trung bình 5G (Mbps)",
    "c_median_5g": "Trung vị 5G (Mbps)",
    "c_tests_per_1000": "Lượt đo trên 1.000 dân",
    "c_devices_per_1000": "Thiết bị trên 1.000 dân (tối thiểu–tối đa)",
    "c_devices_min_per_1000": "Thiết bị trên 1.000 dân, tối thiểu",
    "c_devices_max_per_1000": "Thiết bị trên 1.000 dân, tối đa",
    "c_reason": "Lý do",
    "c_month": "Tháng",
    "c_meets_4g": "Số xã, phường, đặc khu đạt (4G)",
    "c_below_4g": "Số xã, phường, đặc khu chưa đạt (4G)",
    "c_with_tests": "Số xã, phường, đặc khu có lượt đo",
    "c_file": "Tệp",
    "c_format": "Định dạng",
    "c_sha256": "SHA-256",
    "c_read": "Bản ghi đã đọc",
    "c_accepted": "Được nhận",
    "c_rejected": "Bị loại",
    "c_duplicates": "Trùng lặp",
    "c_rows": "Số bản ghi",
    "c_item": "Mục",
    "c_value": "Giá trị",
    "c_total": "Tổng",
    "c_count": "Số lượng",
    # operators
    "t_operators": "Tốc độ tải xuống theo doanh nghiệp, toàn tỉnh",
    "operators_note": "Bảng nêu, cho mỗi doanh nghiệp, các công nghệ có mức tối thiểu hoặc mức "
    "tham chiếu và tổng các công nghệ di động. P10 (bách phân vị thứ 10) là tốc độ mà 10% số "
    "lượt đo thấp hơn; P90 (bách phân vị thứ 90) là tốc độ mà 90% số lượt đo thấp hơn. Số liệu "
    "5G của doanh nghiệp chưa cung cấp dịch vụ 5G thương mại được ghi «Cần xác minh dữ liệu» và "
    "không được đánh giá.",
    # communes
    "map_title": "Bản đồ đánh giá 4G theo xã, phường, đặc khu",
    "map_caption": "Màu thể hiện đánh giá tốc độ tải xuống 4G của mỗi xã, phường, đặc khu so với "
    "mức tối thiểu (tất cả doanh nghiệp).",
    "map_unavailable": "Không vẽ được bản đồ: không đọc được ranh giới của phiên bản đã dùng.",
    "map_operator_title": "Đánh giá 4G: {operator}",
    "map_operators_title": "Bản đồ đánh giá 4G theo từng doanh nghiệp",
    "map_operators_caption": "Mỗi bản đồ thể hiện đánh giá tốc độ tải xuống 4G của riêng doanh "
    "nghiệp đó tại mỗi xã, phường, đặc khu (màu trắng: doanh nghiệp không có lượt đo 4G tại đó).",
    "map_insets_caption": "Khung {letters}: các cụm xã, phường, đặc khu nhỏ, phóng to (khung "
    "cùng chữ trên bản đồ cho biết vị trí; số ghi trên khung tra trong chú giải dưới đây).",
    "map_key": "Chú giải số trên bản đồ",
    "c_map_number": "Số",
    # below
    "below_intro": "Dưới đây là các xã, phường, đặc khu mà đánh giá 4G của một doanh nghiệp là "
    "chưa đạt mức tối thiểu.",
    "no_below_operator": "Không có xã, phường, đặc khu nào chưa đạt mức tối thiểu.",
    "no_below_any": "Không có xã, phường, đặc khu nào chưa đạt mức tối thiểu với bất kỳ doanh "
    "nghiệp nào.",
    # thin data
    "t_no_tests": "Xã, phường, đặc khu không có lượt đo 4G",
    "t_insufficient": "Xã, phường, đặc khu chưa đủ dữ liệu (4G)",
    "t_inconclusive": "Xã, phường, đặc khu sát ngưỡng, chưa đủ cơ sở đánh giá (4G): khoảng tin "
    "cậy chứa mức tối thiểu, cần thêm lượt đo",
    "none": "Không có.",
    "reason_no_tests": "không có lượt đo 4G",
    "reason_few_tests": "ít hơn {n} lượt đo",
    "reason_few_devices": "ít hơn {n} thiết bị",
    "reason_no_statistic": "không tính được đại lượng so sánh",
    "thin_rule": "Một xã, phường, đặc khu chưa đủ dữ liệu khi có ít hơn {tests} lượt đo hoặc ít "
    "hơn {devices} thiết bị; xã, phường, đặc khu không có lượt đo 4G nào được thống kê riêng.",
    # 5G
    "no_5g": "Không có lượt đo 5G nào trong tháng này.",
    "k_share_5g": "Tỷ lệ lượt đo trên mạng 5G (toàn tỉnh, trong số lượt đo trên mạng di động)",
    "k_tests_5g": "Số lượt đo 5G",
    "k_communes_5g": "Xã, phường, đặc khu có lượt đo 5G",
    "k_communes_no_5g": "Xã, phường, đặc khu không có lượt đo 5G",
    "k_mean_5g": "Tốc độ tải xuống trung bình 5G (Mbps)",
    "k_median_5g": "Tốc độ tải xuống trung vị 5G (Mbps)",
    "t_5g_figures": "Số liệu chung về 5G",
    "t_5g_communes": "Tốc độ 5G tại các xã, phường, đặc khu có lượt đo 5G",
    "t_no_5g_communes": "Xã, phường, đặc khu không có lượt đo 5G",
    # adoption
    "adoption_intro": "Bảng dưới đây nêu số lượt đo và số thiết bị trên mạng di động của từng "
    "xã, phường, đặc khu, và tính trên 1.000 dân, từ các ứng dụng đo từng lượt (i-Speed và các "
    "nguồn khác). Dữ liệu tổng hợp theo ô lưới của Ookla (Speedtest) và lượt đo mạng cố định "
    "(Wi-Fi) được thống kê riêng, không cộng vào.",
    "whole_province": "Toàn tỉnh",
    "not_summed": "không cộng (xem ghi chú)",
    "adoption_devices_note": "Không cộng số thiết bị của các xã, phường, đặc khu: một thiết bị "
    "có thể đo ở nhiều nơi.",
    # trend
    "first_month": "Đây là tháng đầu tiên được phân tích, chưa có số liệu các tháng trước để "
    "theo dõi diễn biến.",
    "first_period": "Các tháng đã phân tích đều dựa trên cùng dữ liệu ô lưới Ookla của một quý: "
    "đây là kỳ số liệu đầu tiên, chưa có số liệu để theo dõi diễn biến.",
    "trend_intro": "Bảng nêu các tháng đã phân tích trong 12 tháng gần nhất, mỗi tháng theo kết "
    "quả phân tích đã lưu của tháng đó. Các tháng của một quý chỉ có dữ liệu ô lưới Ookla dựa "
    "trên cùng số liệu theo quý nên được ghi một lần, là quý đó.",
    # data periods
    "period_quarter": "quý {n}/{year}",
    "period_quarter_short": "quý {n}/{year}",
    "period_singles": "lượt đo đơn lẻ của tháng",
    "period_tiles": "theo quý (dữ liệu ô lưới Ookla của {quarter})",
    "period_mixed": "gồm dữ liệu ô lưới Ookla của {quarter}",
    "change_same_data": "không tính (cùng dữ liệu ô lưới Ookla của {quarter})",
    "change_shared_tiles": "chung dữ liệu ô lưới {quarter}",
    "summary_tiles": "Số liệu trên mạng di động của tháng chỉ gồm dữ liệu ô lưới Ookla của "
    "{quarter}, là số liệu theo quý: các số trung bình giống nhau cho cả ba tháng của quý và "
    "được ghi «theo quý» bên cạnh.",
    "summary_mixed": "Số liệu trên mạng di động của tháng gồm các lượt đo đơn lẻ của tháng và dữ "
    "liệu ô lưới Ookla của {quarter}, là số liệu theo quý: các nhóm có dữ liệu ô lưới được ghi "
    "«gồm dữ liệu ô lưới Ookla» bên cạnh số liệu.",
    "t_trend": "Diễn biến qua các tháng",
    "trend_chart_title": "Tốc độ tải xuống trung bình toàn tỉnh",
    "trend_axis": "Mbps",
    "target_line": "Mức tối thiểu {tech}",
    "trend_boundaries_changed": "Lưu ý: các tháng không cùng một phiên bản ranh giới.",
    # annex
    "a_method": "Phương pháp",
    "method_text": "Mỗi lượt đo của tháng, xác định theo {timezone}, được gán cho đúng một xã, "
    "phường, đặc khu theo tọa độ. Dữ liệu tổng hợp theo ô lưới của Ookla (Speedtest) của quý "
    "được dùng với trọng số bằng số lượt đo của ô. Đánh giá so sánh {statistic} tốc độ tải xuống "
    "với mức tối thiểu, có tính khoảng tin cậy {confidence}: một xã, phường, đặc khu chưa đủ dữ "
    "liệu khi có ít hơn {min_tests} lượt đo hoặc ít hơn {min_devices} thiết bị (tính theo số tối "
    "thiểu); sát ngưỡng, chưa đủ cơ sở đánh giá khi khoảng tin cậy chứa mức tối thiểu. Số thiết "
    "bị là một khoảng: ô lưới chỉ cho biết số thiết bị của từng ô, và một thiết bị có thể đo ở "
    "nhiều ô; tối thiểu là số thiết bị của các lượt đo đơn lẻ cộng số thiết bị của ô lớn nhất, "
    "tối đa là cộng số thiết bị của mọi ô. Khoảng tin cậy coi mỗi ô là một cụm lượt đo (mỗi lượt "
    "đo đơn lẻ là một cụm), không bao giờ nhỏ hơn 0, và không được tính khi có ít hơn "
    "{min_tests} lượt đo. Mức tham chiếu 5G do Sở lựa chọn, chỉ để tham khảo.",
    "a_inputs": "Tệp đầu vào",
    "inputs_note": "Số bản ghi tính cho cả tệp (một tệp có thể chứa lượt đo của nhiều tháng): "
    "bản ghi đã đọc = được nhận + bị loại + trùng lặp.",
    "no_inputs": "Không có thông tin về tệp đầu vào.",
    "a_rejects": "Bản ghi bị loại theo lý do",
    "a_counts": "Số bản ghi của tháng được phân tích",
    "a_rule": "Quy tắc đánh giá",
    "a_boundaries": "Ranh giới hành chính và phiên bản",
    "r_target": "Mức tối thiểu tải xuống {tech} (Mbps)",
    "r_statistic": "Đại lượng so sánh",
    "r_min_tests": "Số lượt đo tối thiểu",
    "r_min_devices": "Số thiết bị tối thiểu",
    "r_min_share": "Tỷ lệ lượt đo đạt mức tối thiểu cần có",
    "r_confidence": "Độ tin cậy",
    "r_peak_hours": "Giờ cao điểm buổi tối",
    "r_tolerance": "Dung sai gán điểm vào xã, phường, đặc khu gần nhất (m)",
    "r_bursts": "Gộp các lượt đo lặp liên tiếp",
    "b_version": "Phiên bản ranh giới",
    "b_communes": "Số xã, phường, đặc khu",
    "v_tool_analysis": "Phiên bản qostool khi phân tích",
    "v_tool_report": "Phiên bản qostool khi lập báo cáo",
    "v_analysed_at": "Thời điểm phân tích",
    "v_timezone": "Múi giờ",
    "v_quarter_of_tiles": "Quý của dữ liệu ô lưới Ookla",
    "v_history_months": "Số tháng trước dùng để so sánh",
    "yes": "có",
    "no": "không",
    # counts of analysis.json
    "n_rows": "Số bản ghi",
    "n_tests": "Số lượt đo",
    "n_tile_rows": "Bản ghi ô lưới Ookla",
    "n_tile_tests": "Lượt đo trong các ô lưới Ookla",
    "n_snapped_rows": "Bản ghi trong khe hở ranh giới, gán vào xã, phường, đặc khu gần nhất",
    "n_outside_rows": "Bản ghi ngoài tỉnh",
    "n_outside_tests": "Lượt đo ngoài tỉnh",
    "n_burst_duplicates": "Lượt đo lặp liên tiếp bị bỏ",
    # XLSX sheets (at most 31 characters)
    "x_summary": "Tóm tắt",
    "x_verdicts": "Đánh giá",
    "x_province": "Toàn tỉnh",
    "x_operators": "Doanh nghiệp",
    "x_communes": "Xã phường đặc khu",
    "x_below": "Chưa đạt theo doanh nghiệp",
    "x_thin": "Thiếu dữ liệu",
    "x_5g": "5G",
    "x_adoption": "Sử dụng i-Speed",
    "x_trend": "Diễn biến",
    "x_inputs": "Tệp đầu vào",
    "x_rejects": "Bản ghi bị loại",
    "x_method": "Phương pháp",
    "c_share_ge_target": "Tỷ lệ lượt đo đạt mức tối thiểu",
    "c_tile_tests": "Lượt đo từ ô lưới Ookla",
    "c_status": "Tình trạng",
    "c_months": "Các tháng trong tệp",
    "c_median_4g": "Trung vị 4G (Mbps)",
    "c_ci_low": "Cận dưới khoảng tin cậy (Mbps)",
    "c_ci_high": "Cận trên khoảng tin cậy (Mbps)",
    # values
    "no_data": "không có dữ liệu",
    "verdict_meets_target": "Đạt",
    "verdict_below_target": "Chưa đạt",
    "verdict_insufficient_data": "Chưa đủ dữ liệu",
    "verdict_inconclusive": "Sát ngưỡng, chưa đủ cơ sở đánh giá",
    "verdict_none": "không áp dụng",
    "operator_all": "Tất cả doanh nghiệp",
    "operator_unknown": "Không rõ doanh nghiệp",
    "tech_all": "Tất cả (di động)",
    "tech_unknown": "Không rõ công nghệ",
    "tech_wifi": "Wi-Fi",
    "type_xa": "Xã",
    "type_phuong": "Phường",
    "type_dac_khu": "Đặc khu",
    "type_thi_tran": "Thị trấn",
    "statistic_mean": "trung bình",
    "statistic_median": "trung vị",
    "statistic_share": "tỷ lệ lượt đo đạt mức tối thiểu",
    # reject reasons
    "reason_short_row": "bản ghi thiếu trường (dòng bị cắt)",
    "reason_long_row": "bản ghi thừa trường: dấu phân cách nằm ngoài ngoặc kép",
    "reason_flagged_by_source": "nguồn dữ liệu đánh dấu lượt đo không hợp lý",
    "reason_missing_timestamp": "không có thời điểm đo",
    "reason_invalid_timestamp": "thời điểm đo không đọc được hoặc trước năm 2000",
    "reason_future_timestamp": "thời điểm đo ở tương lai",
    "reason_missing_coordinates": "không có vĩ độ hoặc kinh độ",
    "reason_invalid_coordinates": "tọa độ không hợp lệ, ngoài phạm vi, hoặc cả vĩ độ và kinh độ "
    "đều bằng 0",
    "reason_missing_download": "không có tốc độ tải xuống",
    "reason_invalid_speed": "tốc độ không phải là số",
    "reason_negative_speed": "tốc độ âm",
    "reason_implausible_speed": "tốc độ vượt mức hợp lý",
    "reason_invalid_latency": "độ trễ không phải là số hoặc âm",
    "reason_invalid_weight": "bản ghi tổng hợp thiếu số lượt đo hoặc số lượt đo nhỏ hơn 1",
    "reason_totals_row": "dòng tổng cộng của bảng tính, không phải một lượt đo",
    "headline_no_tests": "; {count} không có lượt đo 4G",
    "c_reference": "Mức tham chiếu (Mbps)",
    "c_source": "Nguồn số liệu",
    "t_sources": "Số liệu theo nguồn",
    "map_source": "Nguồn ranh giới hành chính: {credit}.",
    "map_source_unknown": "Ranh giới hành chính: tệp {file} (phiên bản {version}); nguồn chưa "
    "được ghi khi nhập ranh giới.",
    "five_g_reference": "Mức tham chiếu 5G ({target} Mbps) do Sở lựa chọn để theo dõi, không "
    "phải mức tối thiểu theo quy định: số liệu 5G chỉ để tham khảo, không đánh giá đạt hay chưa "
    "đạt.",
    "sources_intro": "Mỗi nguồn số liệu của tháng trên địa bàn tỉnh; dữ liệu tổng hợp theo ô "
    "lưới của Ookla (Speedtest) là số liệu theo quý của một ứng dụng khác, không tính là lượt đo "
    "của người dân trong tháng.",
    "sources_unknown": "Phân tích của tháng không ghi số lượt đo theo từng nguồn.",
    "source_apart": "thống kê riêng",
    "change_few_tests": "không so sánh (ít lượt đo)",
    "r_reference": "Mức tham chiếu tải xuống {tech} (Mbps), để tham khảo",
    "n_outside_single_tests": "Lượt đo đơn lẻ ngoài tỉnh",
    "n_tile_rows_left_out": "Bản ghi ô lưới Ookla không dùng",
    "n_tile_tests_left_out": "Lượt đo trong các ô lưới Ookla không dùng",
    "x_sources": "Nguồn số liệu",
    "verdict_no_tests": "Không có lượt đo",
    "verdict_reference_above": "Trên mức tham chiếu",
    "verdict_reference_below": "Dưới mức tham chiếu",
    "verdict_reference_close": "Sát mức tham chiếu",
    "verdict_unverified": "Cần xác minh dữ liệu",
    "tz_vietnam": "giờ Việt Nam (UTC+7)",
    "src_ispeed": "i-Speed (VNNIC)",
    "src_ookla": "dữ liệu tổng hợp theo ô lưới của Ookla (Speedtest® by Ookla®)",
    "src_mlab": "M-Lab (NDT)",
    "src_rtr": "RTR-NetTest",
    "source_count": "{source}: {tests} lượt đo",
    "source_count_tiles": "{source}, {quarter}: {tests} lượt đo, thống kê riêng",
    "sources_none": "nguồn số liệu không được ghi trong phân tích",
    "reference_mark": " (tham chiếu)",
    "tiles_line": "{source}, {quarter}: {tests} lượt đo trong {tiles} ô lưới, thống kê riêng, "
    "không tính là lượt đo của người dân trong tháng.",
    "c_reference_compare": "So với mức tham chiếu",
    "c_device_count": "Số thiết bị",
}

_EN: Final[dict[str, str]] = {
    "title": "Mobile internet quality report",
    "province": "Province",
    "report_month": "Reporting month",
    "generated": "Generated",
    "contents": "Contents",
    "source_line": "Figures from citizens' speed tests in the province: {sources}. They reflect "
    "users' experience and are for reference; they are not a conformity measurement under QCVN "
    "81:2019/BTTTT.",
    "warnings_title": "Warnings about the data",
    "w_outside_boundaries": "{outside} of the month's {singles} single tests ({share}) fall "
    "outside the boundaries of the communes, wards and special zones ({boundaries}). Check that "
    "the boundaries and the data are the province's before using this report.",
    "w_forced": "Written although a check failed: ",
    "w_preflight_configured_rule": "the analysis was made with other terms than the "
    "configuration: {differs}; a what-if, not the month's analysis.",
    "w_preflight_configured_rule_chosen": "The month's official analysis was made official on "
    "purpose with other terms than the configuration: {differs}.",
    "w_preflight_configured_rule_variant": "The variant's terms differ from the configuration: "
    "{differs}.",
    "w_preflight_official_variant": "This report is of the variant “{name}” (id {id}, made "
    "{made}), NOT the month's official analysis.",
    "w_preflight_official_earlier": "This report is of an earlier official analysis (id {id}, "
    "made {made}), replaced by a newer one on {replaced}.",
    "page_variant": "VARIANT “{name}”, not the official analysis: {differs}",
    "page_earlier": "EARLIER OFFICIAL ANALYSIS (id {id}), replaced on {replaced}",
    "differ_item": "{term} {value} (configured {configured})",
    "term_target": "{tech} threshold",
    "term_statistic": "statistic",
    "term_min_tests": "minimum tests",
    "term_min_devices": "minimum devices",
    "term_min_share": "minimum share",
    "term_confidence": "confidence",
    "term_peak_hours": "peak hours",
    "term_tolerance_m": "boundary tolerance (m)",
    "term_dedupe_bursts": "bursts counted once",
    "term_boundaries": "boundaries",
    "term_preset": "rule",
    "w_preflight_up_to_date": "the analysis is out of date ({what}).",
    "w_new_files": "{count} file(s) ingested after it",
    "w_new_boundaries": "new boundaries {version}",
    "w_preflight_same_boundaries": "the boundaries of this month ({boundaries}) differ from "
    "those of {previous_month} ({previous_boundaries}); the two months do not compare.",
    "w_preflight_communes_kept": "{count} commune(s), ward(s) or special zone(s) with tests in "
    "{previous_month} have none this month: {names}.",
    "w_preflight_month_over": "Preliminary report: {month} is not over yet in {timezone}; the "
    "figures may still change.",
    "d_number": "No.: {number}/{symbol}",
    "d_motto_gloss": "Socialist Republic of Viet Nam",
    "d_motto_sub_gloss": "Independence - Freedom - Happiness",
    "d_place_date": "{place}, {date}",
    "d_date_blank": "(date of signing)",
    "d_subtitle": "Reporting month: {month}, {area}",
    "d_recipient": "To:",
    "d_recipients_title": "Recipients:",
    "d_period": "Data from {start} to {end} inclusive.",
    "d_generated": "Report files made by qostool",
    "doc_parent_province": "People's Committee of {name} province",
    "doc_parent_city": "People's Committee of {name} city",
    "doc_area_province": "{name} province",
    "doc_area_city": "{name} city",
    "doc_committee_province": "the People's Committee of {name} province",
    "doc_committee_city": "the People's Committee of {name} city",
    "doc_authority": "the Viet Nam Telecommunications Authority, Ministry of Science and "
    "Technology",
    "doc_issuer": "Department of Science and Technology",
    "doc_signer": "DIRECTOR",
    "doc_as_above": "As above",
    "doc_archive": "Archive: records office",
    "doc_opening": "Pursuant to {basis}, and on the basis of citizens' speed tests of mobile "
    "internet in {area} from {start} to {end} inclusive, the {issuer} reports as follows:",
    "doc_basis_default": "[Directive No. …/CT-UBND of … of the People's Committee of {area} "
    "and Letter No. 2138/BTTTT-CVT of 3 June 2024 of the Ministry of Information and "
    "Communications; draft: check the numbers and dates of the documents]",
    "doc_annex_line": "(Attached to Report No. {number}/{symbol} of {date} of the {issuer})",
    "s_uptake": "I. Implementation",
    "s_results": "II. Measurement results and assessment",
    "s_province": "1. Results for {area} as a whole",
    "s_operators": "2. Results by operator",
    "s_communes": "3. Results by commune, ward and special zone",
    "s_5g": "4. 5G (for reference)",
    "s_trend": "5. Month by month",
    "s_assessment": "III. General assessment",
    "s_achieved": "1. Results achieved",
    "s_shortcomings": "2. Shortcomings, limitations and their causes",
    "s_tasks": "IV. Tasks for next month",
    "s_proposals": "V. Proposals and recommendations",
    "closing": "./.",
    "placeholder_tasks": "[Draft: state next month's tasks (or set next_tasks in [report] of "
    "qostool.toml).]",
    "placeholder_shortcomings": "[Draft: state the shortcomings, limitations and their causes.]",
    "placeholder_proposals": "[Draft: state the proposals and recommendations.]",
    "annex": "Annex {n}",
    "annex_communes": "Results by commune, ward and special zone",
    "annex_4g": "1. 4G (all operators)",
    "annex_5g": "2. 5G (for reference)",
    "annex_below": "Communes, wards and special zones below the minimum, by operator",
    "annex_thin": "Communes, wards and special zones with insufficient data or no tests",
    "annex_adoption": "Use of the speed-test apps by commune, ward and special zone",
    "annex_method": "Method and data quality",
    "see_annex": "Details in Annex {n}.",
    "see_annexes": "Details in Annex {n} and Annex {m}.",
    "t_caption": "Table {n}. {title}",
    "unit_mbps": "Unit: Mbps",
    "c_ordinal": "No.",
    "method_plain": "Every test of the month (in {timezone}) is assigned to exactly one "
    "commune, ward or special zone by where it was made. Each commune's download speed "
    "({statistic}) is compared with the minimum, with a {confidence} confidence interval: a "
    "commune with fewer than {min_tests} tests or fewer than {min_devices} devices has not "
    "enough data to be assessed; a commune whose interval contains the minimum is too close "
    "to it to be assessed.",
    "technical_note": "The technical details needed to check the results again (the input "
    "files and the checksum of each, rejected records by reason, the rule, the boundaries and "
    "software versions) are in a separate file, “{file}”, kept in the report's folder.",
    "technical_title": "Technical details of the report",
    "technical_intro": "This file goes with “{title}” ({month}, {area}) and records "
    "the technical details needed to check its results; the report is sent without it.",
    "k_tests": "Tests on the mobile network (i-Speed and other per-test sources)",
    "k_tile_tests": "Ookla (Speedtest) grid-tile aggregates, counted apart: tests",
    "k_wifi_tests": "Wi-Fi tests (counted apart)",
    "k_devices": "Devices that tested",
    "k_communes_with_data": "Communes, wards and special zones with tests",
    "k_communes_without_data": "Communes, wards and special zones without any mobile test",
    "headline": "{meets}/{total} communes, wards and special zones{percent} meet the minimum 4G "
    "average download speed ({target} Mbps); {below} below; {inconclusive} close to the "
    "threshold, not enough evidence; {insufficient} with insufficient data{no_tests}.",
    "headline_median": "{meets}/{total} communes, wards and special zones{percent} meet the "
    "minimum 4G median download speed ({target} Mbps); {below} below; {inconclusive} close to "
    "the threshold, not enough evidence; {insufficient} with insufficient data{no_tests}.",
    "headline_share": "{meets}/{total} communes, wards and special zones{percent} meet the 4G "
    "minimum (at least {share} of tests at {target} Mbps or more); {below} below; {inconclusive} "
    "close to the threshold, not enough evidence; {insufficient} with insufficient "
    "data{no_tests}.",
    "headline_no_technology": "The month's mobile tests do not say their technology (only Ookla "
    "(Speedtest) grid-tile aggregates, technology unknown), so nothing can be assessed against "
    "the 4G minimum. All cellular tests together: {tests} tests in {with_tests}/{total} "
    "communes, wards and special zones; mean download {mean} Mbps.",
    "compare_line": "Under the {rule} ({terms}): {meets} communes meet the 4G minimum, {below} "
    "below, {inconclusive} close to the threshold, {insufficient} with insufficient data or no "
    "tests; {differ}/{total} communes get another assessment than in this report (column "
    "“{column}”, section 3).",
    "rule_terms": "{statistic}, at least {min_tests} tests and {min_devices} devices",
    "rule_vnnic": "national rule (VNNIC)",
    "rule_province": "province rule",
    "c_verdict_compared": "4G assessment, {rule}",
    "t_key_figures": "Key figures",
    "t_verdicts": "Communes, wards and special zones by assessment",
    "t_province": "Province download speed by technology",
    "change_note": "Change since last month: last month computed again with the same rule and "
    "the same boundaries; no change is given when either month has fewer tests than an "
    "assessment needs. Ookla tiles are quarterly data, the same for each of the quarter's three "
    "months: when both months rest on the same tiles no change is computed; when both hold the "
    "same quarter's tiles besides their own single tests, the change comes from the single tests "
    "only and is marked 'shares tiles'.",
    "no_previous_month": "No figures for last month to compare with.",
    "c_technology": "Technology",
    "c_operator": "Operator",
    "c_tests": "Tests",
    "c_devices": "Devices (min–max)",
    "c_devices_min": "Devices, at least",
    "c_devices_max": "Devices, at most",
    "c_mean": "Mean (Mbps)",
    "c_median": "Median (Mbps)",
    "c_p10": "10th percentile (P10, Mbps)",
    "c_p90": "90th percentile (P90, Mbps)",
    "c_interval": "Confidence interval (Mbps)",
    "c_target": "Minimum (Mbps)",
    "c_verdict": "Assessment",
    "c_prev": "Last month (Mbps)",
    "c_change": "Change (Mbps)",
    "c_months_below": "Data periods in a row below the minimum (a quarter of tiles counts once)",
    "c_data_period": "Data",
    "c_code": "Code",
    "c_commune": "Commune",
    "c_type": "Type",
    "c_population": "Population",
    "c_tests_4g": "4G tests",
    "c_mean_4g": "4G mean (Mbps)",
    "c_verdict_4g": "4G assessment",
    "c_tests_5g": "5G tests",
    "c_share_5g": "Share of tests on 5G",
    "c_mean_5g": "5G mean (Mbps)",
    "c_median_5g": "5G median (Mbps)",
    "c_tests_per_1000": "Tests per 1,000 inhabitants",
    "c_devices_per_1000": "Devices per 1,000 inhabitants (min–max)",
    "c_devices_min_per_1000": "Devices per 1,000 inhabitants, at least",
    "c_devices_max_per_1000": "Devices per 1,000 inhabitants, at most",
    "c_reason": "Reason",
    "c_month": "Month",
    "c_meets_4g": "Communes meeting the 4G minimum",
    "c_below_4g": "Communes below the 4G minimum",
    "c_with_tests": "Communes with tests",
    "c_file": "File",
    "c_format": "Format",
    "c_sha256": "SHA-256",
    "c_read": "Records read",
    "c_accepted": "Accepted",
    "c_rejected": "Rejected",
    "c_duplicates": "Duplicates",
    "c_rows": "Records",
    "c_item": "Item",
    "c_value": "Value",
    "c_total": "Total",
    "c_count": "Count",
    "t_operators": "Download speed by operator, whole province",
    "operators_note": "The table gives, for each operator, the technologies with a minimum or a "
    "reference level, and all cellular technologies together. P10 (10th percentile) is the speed "
    "10% of tests fall below; P90 (90th percentile) the speed 90% of tests fall below. The 5G "
    "figures of an operator without a commercial 5G network are marked 'Data to be verified' and "
    "not assessed.",
    "map_title": "Map of 4G assessments by commune",
    "map_caption": "Colours show each commune's 4G download speed assessed against the minimum "
    "(all operators).",
    "map_unavailable": "The map could not be drawn: the boundaries version used could not be read.",
    "map_operator_title": "4G assessment: {operator}",
    "map_operators_title": "Maps of 4G assessments by operator",
    "map_operators_caption": "Each map shows the operator's own 4G download speed assessed in "
    "each commune (white: no 4G test of that operator there).",
    "map_insets_caption": "Inset {letters}: clusters of small communes, enlarged (the frame "
    "with the same letter on the map shows where; its numbers are in the key below).",
    "map_key": "Key to the numbers on the map",
    "c_map_number": "No.",
    "below_intro": "Below are the communes where an operator's 4G assessment is below the minimum.",
    "no_below_operator": "No commune below the minimum.",
    "no_below_any": "No commune is below the minimum for any operator.",
    "t_no_tests": "Communes, wards and special zones without 4G tests",
    "t_insufficient": "Communes, wards and special zones with insufficient data (4G)",
    "t_inconclusive": "Communes close to the threshold, not enough evidence (4G): the interval "
    "contains the minimum; more tests are needed",
    "none": "Nothing to list.",
    "reason_no_tests": "no 4G test",
    "reason_few_tests": "fewer than {n} tests",
    "reason_few_devices": "fewer than {n} devices",
    "reason_no_statistic": "the statistic could not be computed",
    "thin_rule": "A commune has insufficient data with fewer than {tests} tests or fewer than "
    "{devices} devices; communes without any 4G test are listed apart.",
    "no_5g": "No 5G test this month.",
    "k_share_5g": "Share of tests on 5G (whole province, of the tests on the mobile network)",
    "k_tests_5g": "5G tests",
    "k_communes_5g": "Communes with 5G tests",
    "k_communes_no_5g": "Communes without 5G tests",
    "k_mean_5g": "5G mean download (Mbps)",
    "k_median_5g": "5G median download (Mbps)",
    "t_5g_figures": "5G figures",
    "t_5g_communes": "5G speeds in the communes, wards and special zones with 5G tests",
    "t_no_5g_communes": "Communes, wards and special zones without 5G tests",
    "adoption_intro": "The table gives the tests and devices on the mobile network in each "
    "commune, ward and special zone, and per 1,000 inhabitants, from the per-test apps (i-Speed "
    "and other sources). Ookla (Speedtest) grid-tile aggregates and fixed-network tests (Wi-Fi) "
    "are counted apart, never added in.",
    "whole_province": "Whole province",
    "not_summed": "not added up (see note)",
    "adoption_devices_note": "Devices are not added up over communes: one device may test "
    "in several communes.",
    "first_month": "This is the first month analysed: there are no earlier months to follow yet.",
    "first_period": "The months analysed all rest on the same quarter's Ookla tiles: this is the "
    "first data period, there are no earlier figures to follow yet.",
    "trend_intro": "The table gives the months analysed within the last 12 months, each as "
    "stored by its own analysis. The months of a quarter with Ookla tiles only rest on the same "
    "quarterly data and are shown once, as that quarter.",
    # data periods
    "period_quarter": "Q{n} {year}",
    "period_quarter_short": "Q{n} {year}",
    "period_singles": "single tests of the month",
    "period_tiles": "quarterly (Ookla tiles {quarter})",
    "period_mixed": "with quarterly Ookla tiles {quarter}",
    "change_same_data": "none (same Ookla tiles {quarter})",
    "change_shared_tiles": "shares tiles {quarter}",
    "summary_tiles": "The month's mobile data are only the Ookla tiles of {quarter}, which are "
    "quarterly: their means are the same for each of the quarter's three months and are marked "
    "'quarterly' next to them.",
    "summary_mixed": "The month's mobile data are the month's single tests and the Ookla tiles "
    "of {quarter}, which are quarterly: groups with tiles are marked 'with quarterly Ookla "
    "tiles' next to their figures.",
    "t_trend": "Change over the months",
    "trend_chart_title": "Province mean download speed",
    "trend_axis": "Mbps",
    "target_line": "{tech} minimum",
    "trend_boundaries_changed": "Note: the months do not all use the same boundaries version.",
    "a_method": "Method",
    "method_text": "Every test of the month, dated in {timezone}, is assigned to exactly one "
    "commune by its coordinates. The quarter's Ookla (Speedtest) grid-tile aggregates are used, "
    "weighted by their test counts. The assessment compares the {statistic} download speed with "
    "the minimum, with a {confidence} confidence interval: a commune has insufficient data with "
    "fewer than {min_tests} tests or fewer than {min_devices} devices (counted at least), and is "
    "close to the threshold, without enough evidence, when the interval contains the minimum. "
    "Devices are a range: an aggregated tile only gives the number of devices in it, and one "
    "device may test in many tiles; at least is the devices of single tests plus those of the "
    "largest tile, at most adds every tile's. The interval takes each tile as one cluster of "
    "tests (each single test as its own), never goes below 0, and is not given below {min_tests} "
    "tests. The 5G reference level is the Department's choice, for reference only.",
    "a_inputs": "Input files",
    "inputs_note": "Record counts are for the whole file (a file may hold tests of several "
    "months): records read = accepted + rejected + duplicates.",
    "no_inputs": "No information on the input files.",
    "a_rejects": "Rejected records by reason",
    "a_counts": "Records of the month analysed",
    "a_rule": "Rule",
    "a_boundaries": "Boundaries and versions",
    "r_target": "{tech} download minimum (Mbps)",
    "r_statistic": "Statistic compared",
    "r_min_tests": "Minimum tests",
    "r_min_devices": "Minimum devices",
    "r_min_share": "Share of tests at or above the minimum needed",
    "r_confidence": "Confidence level",
    "r_peak_hours": "Evening peak hours",
    "r_tolerance": "Snapping tolerance to the nearest commune (m)",
    "r_bursts": "Bursts of tests counted once",
    "b_version": "Boundaries version",
    "b_communes": "Communes",
    "v_tool_analysis": "qostool version of the analysis",
    "v_tool_report": "qostool version of the report",
    "v_analysed_at": "Analysed at",
    "v_timezone": "Time zone",
    "v_quarter_of_tiles": "Quarter of the Ookla tiles",
    "v_history_months": "Earlier months used for comparison",
    "yes": "yes",
    "no": "no",
    "n_rows": "Records",
    "n_tests": "Tests",
    "n_tile_rows": "Ookla tile records",
    "n_tile_tests": "Tests in Ookla tiles",
    "n_snapped_rows": "Records in boundary gaps, snapped to the nearest commune",
    "n_outside_rows": "Records outside the province",
    "n_outside_tests": "Tests outside the province",
    "n_burst_duplicates": "Burst duplicates dropped",
    "x_summary": "Summary",
    "x_verdicts": "Assessments",
    "x_province": "Province",
    "x_operators": "Operators",
    "x_communes": "Communes",
    "x_below": "Below minimum by operator",
    "x_thin": "Insufficient data",
    "x_5g": "5G",
    "x_adoption": "Use of i-Speed",
    "x_trend": "Change over months",
    "x_inputs": "Input files",
    "x_rejects": "Rejected records",
    "x_method": "Method",
    "c_share_ge_target": "Share of tests at or above the minimum",
    "c_tile_tests": "Tests from Ookla tiles",
    "c_status": "Status",
    "c_months": "Months in the file",
    "c_median_4g": "4G median (Mbps)",
    "c_ci_low": "Interval low (Mbps)",
    "c_ci_high": "Interval high (Mbps)",
    "no_data": "no data",
    "verdict_meets_target": "Meets",
    "verdict_below_target": "Below",
    "verdict_insufficient_data": "Insufficient data",
    "verdict_inconclusive": "Close to the threshold, not enough evidence",
    "verdict_none": "no target",
    "operator_all": "All operators",
    "operator_unknown": "Unknown operator",
    "tech_all": "All cellular",
    "tech_unknown": "Unknown technology",
    "tech_wifi": "Wi-Fi",
    "type_xa": "Commune",
    "type_phuong": "Ward",
    "type_dac_khu": "Special zone",
    "type_thi_tran": "Town",
    "statistic_mean": "mean",
    "statistic_median": "median",
    "statistic_share": "share of tests at or above the minimum",
    "reason_short_row": "the row has fewer fields than the header (a truncated line)",
    "reason_long_row": "the row has more fields than the header: a delimiter outside quotes",
    "reason_flagged_by_source": "the source itself marks the test as implausible",
    "reason_missing_timestamp": "no test time",
    "reason_invalid_timestamp": "the test time cannot be read, or is before 2000",
    "reason_future_timestamp": "the test time is in the future",
    "reason_missing_coordinates": "no latitude or longitude",
    "reason_invalid_coordinates": "latitude/longitude not numbers, out of range, or both zero",
    "reason_missing_download": "no download speed",
    "reason_invalid_speed": "a download or upload speed that is not a number",
    "reason_negative_speed": "a negative download or upload speed",
    "reason_implausible_speed": "a download or upload speed above the plausible maximum",
    "reason_invalid_latency": "a latency that is not a number, or negative",
    "reason_invalid_weight": "an aggregate row whose test count is missing or below 1",
    "reason_totals_row": "a spreadsheet's totals row, not a test",
    "headline_no_tests": "; {count} with no 4G tests",
    "c_reference": "Reference level (Mbps)",
    "c_source": "Source",
    "t_sources": "Figures by source",
    "map_source": "Boundaries: {credit}.",
    "map_source_unknown": "Boundaries: file {file} (version {version}); their source was not "
    "recorded when they were imported.",
    "five_g_reference": "The 5G reference level ({target} Mbps) is one the Department chose to "
    "follow, not a minimum any rule sets: the 5G figures are for reference, never assessed as "
    "meeting it or not.",
    "sources_intro": "Each source of the month in the province; the Ookla (Speedtest) grid-tile "
    "aggregates are another app's quarterly figures, not counted as citizens' tests of the month.",
    "sources_unknown": "The month's analysis does not record the tests of each source.",
    "source_apart": "counted apart",
    "change_few_tests": "not compared (few tests)",
    "r_reference": "{tech} download reference level (Mbps), for reference",
    "n_outside_single_tests": "Single tests outside the province",
    "n_tile_rows_left_out": "Ookla tile records left out",
    "n_tile_tests_left_out": "Tests in Ookla tiles left out",
    "x_sources": "Sources",
    "verdict_no_tests": "No tests",
    "verdict_reference_above": "Above the reference level",
    "verdict_reference_below": "Below the reference level",
    "verdict_reference_close": "Close to the reference level",
    "verdict_unverified": "Data to be verified",
    "tz_vietnam": "Viet Nam time (UTC+7)",
    "src_ispeed": "i-Speed (VNNIC)",
    "src_ookla": "Ookla (Speedtest) grid-tile aggregates (Speedtest® by Ookla®)",
    "src_mlab": "M-Lab (NDT)",
    "src_rtr": "RTR-NetTest",
    "source_count": "{source}: {tests} tests",
    "source_count_tiles": "{source}, {quarter}: {tests} tests, counted apart",
    "sources_none": "the analysis does not record its sources",
    "reference_mark": " (reference)",
    "tiles_line": "{source}, {quarter}: {tests} tests in {tiles} grid tiles, counted apart, not "
    "as citizens' tests of the month.",
    "c_reference_compare": "Against the reference level",
    "c_device_count": "Devices",
}

#: Every label, per language (the same keys in each).
LABELS: Final[dict[str, dict[str, str]]] = {"vi": _VI, "en": _EN}

_MONTHS_EN: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
#: Commune types as written in boundary files (lower case, no accents kept) -> label key.
_TYPES: Final = {
    "xã": "type_xa",
    "xa": "type_xa",
    "phường": "type_phuong",
    "phuong": "type_phuong",
    "đặc khu": "type_dac_khu",
    "dac khu": "type_dac_khu",
    "thị trấn": "type_thi_tran",
    "thi tran": "type_thi_tran",
}
_PLACEHOLDER: Final = re.compile(r"\{(\w+)\}")
#: Quarters as Vietnamese documents number them.
_ROMAN: Final = {"1": "I", "2": "II", "3": "III", "4": "IV"}
#: The names of Viet Nam's time zone (the second is the older one).
_VIETNAM_ZONES: Final = ("Asia/Ho_Chi_Minh", "Asia/Saigon")
_QUARTER: Final = re.compile(r"\d{4}-Q[1-4]")


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


class Formatter:
    """Numbers, dates and codes as text in one language.

    Parameters
    ----------
    lang
        ``"vi"`` (``1.234,5``, ``ngày 15 tháng 11 năm 2025``) or ``"en"``
        (``1,234.5``, ``15 November 2025``).
    """

    def __init__(self, lang: str, *, period: bool = False) -> None:
        if lang not in LABELS:
            raise ValueError(f"unknown language {lang!r}")
        self.lang = lang
        self.labels = LABELS[lang]
        if period:  # a report of a period of days: its words where a month's say "month"
            from qostool.report.period_labels import PERIOD_LABELS

            self.labels = {**self.labels, **PERIOD_LABELS[lang]}

    # -- numbers -----------------------------------------------------------

    @property
    def no_data(self) -> str:
        return self.labels["no_data"]

    def _digits(self, value: float, digits: int) -> str:
        text = f"{abs(value):,.{digits}f}"
        if self.lang == "vi":
            text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
        return text

    def number(self, value: float | None, digits: int = 1) -> str:
        """``1234.56`` -> ``1.234,6`` (vi) or ``1,234.6`` (en); missing -> words."""
        if _missing(value):
            return self.no_data
        assert value is not None
        text = self._digits(value, digits)
        negative = value < 0 and any(c not in "0.," for c in text)
        return ("-" if negative else "") + text

    def integer(self, value: float | None) -> str:
        """A count with thousands separators."""
        return self.number(value, 0)

    def signed(self, value: float | None, digits: int = 1) -> str:
        """A change, with its sign: ``+1,2`` / ``-3,4`` / ``0,0``."""
        text = self.number(value, digits)
        if _missing(value) or text.startswith("-"):
            return text
        assert value is not None
        return ("+" if any(c not in "0.," for c in text) else "") + text

    def percent(self, value: float | None, digits: int = 1) -> str:
        """A share (0-1) as a percentage: ``0.125`` -> ``12,5%``."""
        if _missing(value):
            return self.no_data
        assert value is not None
        return self.number(value * 100, digits) + "%"

    def bounds(self, low: float | None, high: float | None, digits: int = 0) -> str:
        """A quantity known only as a range (devices with tiles): ``12–27``, or ``12`` when exact.

        A missing lower bound (an analysis stored before devices were a range) shows
        the upper one as such: ``≤ 27``.
        """
        if _missing(high):
            return self.no_data
        if _missing(low):
            return f"≤ {self.number(high, digits)}"
        low_text, high_text = self.number(low, digits), self.number(high, digits)
        return low_text if low_text == high_text else f"{low_text}–{high_text}"

    def interval(self, low: float | None, high: float | None, digits: int = 1) -> str:
        """``low–high``, or words when either end is missing."""
        if _missing(low) or _missing(high):
            return self.no_data
        return f"{self.number(low, digits)}–{self.number(high, digits)}"

    # -- dates -------------------------------------------------------------

    def day(self, value: str | date | None) -> str:
        """A day in a sentence: ``01/10/2025`` / ``1 October 2025`` (the data period)."""
        if value is None or value == "":
            return self.no_data
        moment: date = value if isinstance(value, date) else _parse_iso(value)
        if self.lang == "vi":
            return f"{moment.day:02d}/{moment.month:02d}/{moment.year}"
        return f"{moment.day} {_MONTHS_EN[moment.month - 1]} {moment.year}"

    def document_date(self, value: str | date | None) -> str:
        """The date line of an administrative document (the day only, no time of day).

        Vietnamese writes a day below 10 and the months 1 and 2 with a leading
        zero (Decree 30/2020/NĐ-CP): ``ngày 05 tháng 02 năm 2026``;
        English: ``5 February 2026``. No date: the line is left blank to be filled
        in by hand when the document is signed (``ngày  tháng  năm``), never today's.
        """
        if value is None or value == "":
            return self.fill(self.labels["d_date_blank"], blank=BLANK)
        moment: date = value if isinstance(value, date) else _parse_iso(value)
        if self.lang == "vi":
            month = f"{moment.month:02d}" if moment.month < 3 else str(moment.month)
            return f"ngày {moment.day:02d} tháng {month} năm {moment.year}"
        return f"{moment.day} {_MONTHS_EN[moment.month - 1]} {moment.year}"

    def date(self, value: str | date | None) -> str:
        """An ISO date or datetime: ``ngày 15 tháng 11 năm 2025`` / ``15 November 2025``.

        A datetime keeps its time of day (hours and minutes, as given).
        """
        if value is None or value == "":
            return self.no_data
        moment: date = value if isinstance(value, date) else _parse_iso(value)
        if self.lang == "vi":
            text = f"ngày {moment.day} tháng {moment.month} năm {moment.year}"
        else:
            text = f"{moment.day} {_MONTHS_EN[moment.month - 1]} {moment.year}"
        if isinstance(moment, datetime):
            text += (" lúc " if self.lang == "vi" else ", ") + moment.strftime("%H:%M")
        return text

    def month(self, value: str) -> str:
        """``2025-10`` -> ``tháng 10 năm 2025`` / ``October 2025``; a period's key
        (``2025-11-06_2025-11-08``) -> its dates (:meth:`dates`)."""
        if "_" in value:
            return self.dates(value)
        year, mon = int(value[:4]), int(value[5:7])
        if self.lang == "vi":
            return f"tháng {mon} năm {year}"
        return f"{_MONTHS_EN[mon - 1]} {year}"

    def dates(self, key: str) -> str:
        """A period of days, ``FROM_TO``: ``từ ngày 06/11/2025 đến ngày 08/11/2025`` /
        ``from 6 November 2025 to 8 November 2025`` (both days included)."""
        first, _, last = key.partition("_")
        if self.lang == "vi":
            return f"từ ngày {self.day(first)} đến ngày {self.day(last)}"
        return f"from {self.day(first)} to {self.day(last)}"

    def month_short(self, value: str) -> str:
        """``2025-10`` -> ``10/2025`` / ``Oct 2025`` (chart axes)."""
        year, mon = int(value[:4]), int(value[5:7])
        if self.lang == "vi":
            return f"{mon:02d}/{year}"
        return f"{_MONTHS_EN[mon - 1][:3]} {year}"

    # -- data periods ------------------------------------------------------

    def quarter(self, value: str, *, short: bool = False) -> str:
        """``2024-Q4`` -> ``quý IV/2024`` / ``Q4 2024`` (``short``: the label for a cell or
        an axis): Vietnamese documents number quarters in Roman numerals."""
        year, n = value[:4], value[6:]
        if self.lang == "vi":
            n = _ROMAN.get(n, n)
        label = "period_quarter_short" if short else "period_quarter"
        return self.fill(self.labels[label], n=n, year=year)

    def quarter_name(self, value: str | None, short: bool = True) -> str:
        """A quarter code in a cell (``2025-Q4`` -> ``Quý IV/2025``; ``short=False`` in a
        sentence: ``quý IV/2025``), or words when none."""
        if not value or not _bare_quarter(value):
            return self.text(value)
        text = self.quarter(value, short=short)
        return text[:1].upper() + text[1:] if short else text

    def timezone(self, value: str | None) -> str:
        """A time zone in words: Viet Nam's (``Asia/Ho_Chi_Minh``) as ``giờ Việt Nam
        (UTC+7)``; another as its name."""
        if value in _VIETNAM_ZONES:
            return self.labels["tz_vietnam"]
        return self.text(value)

    def source(self, value: str) -> str:
        """A source format's name as the report credits it: ``ispeed`` -> ``i-Speed
        (VNNIC)``; a format without a credit of its own by its name."""
        return self.labels.get(f"src_{value}", value)

    def sources(self, summary: Any, quarter: str | None = None) -> str:
        """The month's sources, each credited with its tests on the mobile network, single
        tests first, the tiles said to be apart (``Summary.sources``)."""
        parts = []
        for item in summary.sources:
            if item.network != "mobile" or item.tests == 0:
                continue
            if item.aggregate:
                part = self.fill(
                    self.labels["source_count_tiles"],
                    source=self.source(item.source),
                    quarter=self.quarter(quarter) if quarter else self.no_data,
                    tests=self.integer(item.tests),
                )
            else:
                part = self.fill(
                    self.labels["source_count"],
                    source=self.source(item.source),
                    tests=self.integer(item.tests),
                )
            parts.append(part)
        return "; ".join(parts) or self.labels["sources_none"]

    def map_source(self, annex: Any) -> str:
        """The boundaries' source credit under a map (``Annex.boundaries_credit``), or the
        file and version they came from when no credit was recorded at import."""
        if annex.boundaries_credit:
            return self.fill(self.labels["map_source"], credit=annex.boundaries_credit)
        return self.fill(
            self.labels["map_source_unknown"],
            file=annex.boundaries_file or self.no_data,
            version=annex.boundaries_version or self.no_data,
        )

    def target_name(self, technology: str) -> str:
        """The rule table's line for a technology's target: a minimum (4G), or a
        reference level (5G), never called a minimum."""
        from qostool.report.context import MINIMUM_TECHNOLOGIES

        label = "r_target" if technology in MINIMUM_TECHNOLOGIES else "r_reference"
        return self.fill(self.labels[label], tech=self.technology(technology))

    def period(self, value: str | None) -> str:
        """A data period in words: a month, a quarter of tiles, or a month and its tiles."""
        if not value:
            return self.no_data
        month, _, quarter = value.partition("+")
        if "-Q" in month:
            return self.quarter(month)
        words = self.month(month)
        return f"{words}, {self.period_note(value)}" if quarter else words

    def period_note(self, value: str | None, prefix: str = "") -> str:
        """What a figure next to it rests on, when not only the month's single tests:
        ``theo quý (ô Ookla Q4/2024)``; ``prefix`` goes before it; empty otherwise."""
        quarter = _quarter_in(value)
        if quarter is None or value is None:
            return ""
        label = "period_tiles" if value == quarter else "period_mixed"
        return prefix + self.fill(self.labels[label], quarter=self.quarter(quarter, short=True))

    def data_source(self, value: str | None) -> str:
        """What a group's or a trend point's figures rest on, in words (never empty)."""
        if not value:
            return self.no_data
        return self.period_note(value) or self.labels["period_singles"]

    def period_summary(self, value: str | None) -> str:
        """The sentence page 1 says when the month's mobile data hold a quarter's tiles."""
        quarter = _quarter_in(value)
        if quarter is None:
            return ""
        label = "summary_tiles" if value == quarter else "summary_mixed"
        return self.fill(self.labels[label], quarter=self.quarter(quarter, short=True))

    def change(self, value: float | None, basis: str | None, period: str | None) -> str:
        """A change since last month, saying when it compares the same tiles.

        ``same_data``: no change is computed (the same quarter's tiles twice);
        ``shared_tiles``: the signed change, marked as sharing the quarter's tiles;
        ``few_tests``: not compared (too few tests in either month to mean anything).
        """
        if basis == "few_tests":
            return self.labels["change_few_tests"]
        quarter = _quarter_in(period)
        if basis == "same_data" and quarter is not None:
            short = self.quarter(quarter, short=True)
            return self.fill(self.labels["change_same_data"], quarter=short)
        text = self.signed(value)
        if basis == "shared_tiles" and quarter is not None and not _missing(value):
            short = self.quarter(quarter, short=True)
            text += " (" + self.fill(self.labels["change_shared_tiles"], quarter=short) + ")"
        return text

    def trend_label(self, month: str, period: str | None = None) -> str:
        """A trend point's name: its month, or its quarter when it is a quarter of tiles
        alone (``period`` a bare quarter such as ``2024-Q4``)."""
        if period is not None and _bare_quarter(period):
            return self.quarter(period)
        return self.month(month)

    def trend_label_short(self, month: str, period: str | None = None) -> str:
        """The same for the chart's axis: ``10/2024`` or ``Q4/2024``."""
        if _bare_quarter(period):
            assert period is not None
            return self.quarter(period, short=True)
        return self.month_short(month)

    # -- codes -------------------------------------------------------------

    def verdict(self, value: str | None) -> str:
        """An assessment in words: ``meets_target`` -> ``Đạt`` / ``Meets``, ``no_tests`` ->
        ``Không có lượt đo``; none -> no target."""
        if value is None:
            return self.labels["verdict_none"]
        return self.labels.get(f"verdict_{value}", value)

    def technology(self, value: str | None) -> str:
        """``4G`` stays; ``all``, ``unknown``, ``wifi`` become words."""
        if value is None:
            return self.no_data
        return self.labels.get(f"tech_{value}", value)

    def operator(self, value: str | None) -> str:
        """An operator's name; ``all`` and a missing operator become words."""
        if value is None or value in ("", "unknown"):  # schema.Operator.UNKNOWN
            return self.labels["operator_unknown"]
        if value == "all":
            return self.labels["operator_all"]
        return value

    def commune_type(self, value: str | None) -> str:
        """``Xã`` / ``Phường`` / ``Đặc khu`` in the report's language (others as given)."""
        if value is None or value.strip() == "" or value.strip().lower() in ("none", "nan"):
            return self.no_data
        key = _TYPES.get(value.strip().lower())
        return self.labels[key] if key else value

    def statistic(self, value: str) -> str:
        """``mean`` -> ``trung bình`` / ``mean``."""
        return self.labels.get(f"statistic_{value}", value)

    def rule_name(self, value: str) -> str:
        """A rule preset: ``vnnic`` -> ``quy tắc quốc gia (VNNIC)`` / ``national rule (VNNIC)``."""
        return self.labels.get(f"rule_{value}", value)

    def headline_label(
        self, statistic: str = "mean", min_share: float = 0.8, *, full: bool = False
    ) -> str:
        """The headline's label for the rule's statistic, with the placeholders of ``headline``.

        ``L.headline`` of a report is this label, so a template that fills it with
        the placeholders it always had (``meets``, ``total``, ``target``, ``below``,
        ``insufficient``, ``inconclusive``) names the right statistic; the parts only
        the ``headline`` filter fills (``full``: the share of communes, the communes
        without any 4G test) are left out of it.
        """
        if statistic == "median":
            label = self.labels["headline_median"]
        elif statistic == "share":
            # Filled here: templates do not pass the share.
            share = self.percent(min_share, 0)
            label = self.labels["headline_share"].replace("{share}", share)
        else:
            label = self.labels["headline"]
        if not full:
            label = label.replace("{percent}", "").replace("{no_tests}", "")
        return label

    def headline(self, summary: Any) -> str:
        """Page 1's headline of a ``Summary``: the 4G verdicts under the rule's statistic,
        or, when no mobile test says its technology, the figures of all cellular tests."""
        if not summary.per_technology:
            return self.fill(
                self.labels["headline_no_technology"],
                tests=self.integer(summary.tests + summary.tile_tests),
                with_tests=self.integer(summary.communes_with_tests),
                total=self.integer(summary.communes_total),
                mean=self.number(summary.mean_all),
            )
        total = summary.communes_total
        no_tests = getattr(summary, "no_tests_4g", 0)
        return self.fill(
            self.headline_label(summary.statistic, summary.min_share, full=True),
            meets=self.integer(summary.meets_4g),
            total=self.integer(total),
            # "12/30 xã, phường, đặc khu (40%)": the share, as a drafter writes it.
            percent=f" ({self.percent(summary.meets_4g / total, 0)})" if total else "",
            no_tests=self.fill(self.labels["headline_no_tests"], count=self.integer(no_tests))
            if no_tests
            else "",
            target=self.number(summary.target_4g, 0),
            below=self.integer(summary.below_4g),
            insufficient=self.integer(summary.insufficient_4g),
            inconclusive=self.integer(summary.inconclusive_4g),
        )

    def comparison(self, compared: Any) -> str:
        """The page-1 line of ``report --compare-rule`` (a ``Comparison``)."""
        rule = self.rule_name(compared.rule)
        terms = self.fill(
            self.labels["rule_terms"],
            statistic=self.statistic(compared.statistic),
            min_tests=self.integer(compared.min_tests),
            min_devices=self.integer(compared.min_devices),
        )
        return self.fill(
            self.labels["compare_line"],
            rule=rule,
            terms=terms,
            meets=self.integer(compared.meets),
            insufficient=self.integer(compared.insufficient),
            below=self.integer(compared.below),
            inconclusive=self.integer(compared.inconclusive),
            differ=self.integer(compared.differ),
            total=self.integer(compared.total),
            column=self.fill(self.labels["c_verdict_compared"], rule=rule),
        )

    def reason(self, value: str) -> str:
        """A reject reason code, explained."""
        return self.labels.get(f"reason_{value}", value)

    def count_label(self, key: str) -> str:
        """A count of ``analysis.json`` (``rows``, ``outside_rows``, ...) in words."""
        return self.labels.get(f"n_{key}", key)

    def yes_no(self, value: bool) -> str:
        return self.labels["yes" if value else "no"]

    def text(self, value: object) -> str:
        """A string from the data, or words when it is missing."""
        if _missing(value) or value == "":
            return self.no_data
        return str(value)

    def notice(self, warning: dict[str, Any]) -> str:
        """A warning of the analysis (``analysis.json`` ``warnings``) in this language."""
        if warning.get("check") == "outside_boundaries":
            outside, singles = warning["outside_single_tests"], warning["single_tests"]
            return self.fill(
                self.labels["w_outside_boundaries"],
                outside=self.integer(outside),
                singles=self.integer(singles),
                share=self.percent(outside / singles, 0),
                boundaries=warning["boundaries"],
            )
        check = str(warning.get("check", ""))
        # A variant, an earlier analysis, an analysis made official on purpose: own words.
        kind = warning.get("role") if check == "preflight_official" else warning.get("kind")
        label = self.labels.get(f"w_{check}_{kind}" if kind else f"w_{check}")
        if label is None:
            return str(warning.get("message", warning))
        prefix = self.labels["w_forced"] if warning.get("status") == "failed" else ""
        values: dict[str, object] = {}
        if check == "preflight_configured_rule":
            values = {"differs": self.differences(warning["differs"])}
        elif check == "preflight_official":
            values = {
                "name": warning.get("name") or "",
                "id": warning["id"],
                "made": self.date(warning["made_at"]),
                "replaced": self.date(warning.get("replaced_at")),
            }
        elif check == "preflight_up_to_date":
            what = []
            if warning["new_files"]:
                count = self.integer(warning["new_files"])
                what.append(self.fill(self.labels["w_new_files"], count=count))
            if warning.get("new_boundaries"):
                version = warning["new_boundaries"]
                what.append(self.fill(self.labels["w_new_boundaries"], version=version))
            values = {"what": "; ".join(what)}
        elif check == "preflight_same_boundaries":
            values = {
                "boundaries": warning["boundaries"],
                "previous_boundaries": warning["previous_boundaries"],
                "previous_month": self.month(warning["previous_month"]),
            }
        elif check == "preflight_communes_kept":
            names = [str(n) for n in warning["communes"]]
            values = {
                "count": self.integer(len(names)),
                "previous_month": self.month(warning["previous_month"]),
                "names": ", ".join(names[:10]) + (", ..." if len(names) > 10 else ""),
            }
        elif check in ("preflight_month_over", "preflight_period_over"):
            values = {
                "month": self.month(warning["month"]),
                "timezone": self.timezone(warning["timezone"]),
            }
        return prefix + self.fill(label, **values)

    def page_label(self, which: dict[str, Any] | None) -> str:
        """The line every page of a report not of the month's official analysis carries."""
        if not which:
            return ""
        return self.fill(
            self.labels[f"page_{which['role']}"],
            name=which.get("name") or "",
            id=which["id"],
            replaced=self.date(which.get("replaced_at")),
            differs=self.differences(which.get("differs", [])),
        )

    def differences(self, differs: list[dict[str, Any]]) -> str:
        """How an analysis's terms differ from the configuration, in this language."""
        return "; ".join(
            self.fill(
                self.labels["differ_item"],
                term=self._term(d["term"]),
                value=self._term_value(d["term"], d["value"]),
                configured=self._term_value(d["term"], d["configured"]),
            )
            for d in differs
        )

    def _term(self, term: str) -> str:
        if term.startswith("targets_mbps."):
            return self.fill(self.labels["term_target"], tech=term.removeprefix("targets_mbps."))
        return self.labels.get(f"term_{term}", term)

    def _term_value(self, term: str, value: Any) -> str:
        if value is None:
            return self.no_data
        if isinstance(value, bool):
            return self.yes_no(value)
        if term == "statistic":
            return self.statistic(str(value))
        if isinstance(value, list):
            return "–".join(self._term_value(term, v) for v in value)
        if isinstance(value, int | float):
            text = self.number(value, 0 if float(value).is_integer() else 2)
            return text + " Mbps" if term.startswith("targets_mbps.") else text
        return str(value)

    def target(self, value: float | None, technology: str | None = None) -> str:
        """A target in Mbps, or words saying there is none (not "no data": a
        technology without a target has data, only no target to compare it with).

        With its ``technology``: a reference level (5G), not a minimum, says so
        (``100 (tham chiếu)``), in a column headed by the minimum.
        """
        if _missing(value):
            return self.labels["verdict_none"]
        from qostool.report.context import MINIMUM_TECHNOLOGIES

        text = self.number(value, 0)
        if technology is not None and technology not in MINIMUM_TECHNOLOGIES:
            text += self.labels["reference_mark"]
        return text

    def fill(self, template: str, **values: object) -> str:
        """A label with ``{name}`` placeholders filled in (unknown names are an error)."""

        def one(match: re.Match[str]) -> str:
            return str(values[match.group(1)])

        return _PLACEHOLDER.sub(one, template)


def _quarter_in(period: str | None) -> str | None:
    """The quarter of tiles a data period holds (``2024-Q4``), or None."""
    if not period:
        return None
    found = _QUARTER.search(period)
    return found.group(0) if found else None


def _bare_quarter(period: str | None) -> bool:
    """Whether a data period is a quarter of tiles alone (``2024-Q4``)."""
    return period is not None and _quarter_in(period) == period


def _parse_iso(text: str) -> date:
    """``2025-11-15`` -> a date; ``2025-11-15T08:30:00+07:00`` -> a datetime."""
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text)
