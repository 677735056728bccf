"""Console strings of 登记 by staff (letters, visits, calls), case files and the channel of
arrival.

Merged into :data:`bot.web.i18n.TEXTS`. Problem keys (``register.*``) are those of
:mod:`bot.cases.staff_registration`; a field a form kind refused is worded by the chat's
own texts (``invalid.*`` in config/texts).
"""

from __future__ import annotations

REGISTER_TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "nav.register": "登记",
        "register.title": "登记信访事项",
        "register.help": (
            "登记来信、来访、来电反映的信访事项。问题与群众在对话中填写的相同，"
            "按同样的规则核对；登记后按同样的流程交办、计时和统计。"
        ),
        "register.arrival": "来源",
        "register.channel": "渠道",
        "register.received_on": "收到日期",
        "register.clock_note": "受理期限从收到日期起算（来信以收信日期为准）。",
        "register.petition": "信访事项",
        "register.choose": "（请选择）",
        "register.files": "来信扫描件和材料",
        "register.files_help": "来信扫描件、照片和信访人提交的材料（可多选）",
        "register.submit": "登记",
        "register.invalid": "有 {count} 项需要补充或更正，请查看标出的项目。",
        "register.done": "已登记，事项编号 {number}（材料 {files} 份）。",
        "register.out_of_scope": "该事项已按属地和类别交由其他部门办理。",
        "register.unknown_field": "表单中没有这一项",
        "register.required": "此项必填",
        "register.future": "收到日期不能晚于今天",
        "register.too_old": "收到日期早于一年前，请核对",
        "register.bad_date": "请填写收到日期，例如 2026-11-20",
        "register.bad_channel": "渠道应为来信、来访或来电",
        "register.too_many_files": "一次最多上传 {max} 份材料",
        "register.origin": "材料来源应为信访人材料或工作材料",
        "register.upload.too_big": "文件过大（每份最大 {mb} MB）",
        "register.upload.file_type": "不支持此类文件（可上传图片、PDF、文档）",
        "register.upload.too_many_files": "一次最多上传 {max} 份材料",
        "register.upload.malformed": "上传的表单格式不正确",
        "register.upload.empty": "请选择要上传的文件",
        "register.file_added.petitioner": "已添加信访人材料 {count} 份。",
        "register.file_added.staff": "已上传工作材料 {count} 份。",
        "register.in_document": "已标记为文书的一部分：信访人可以看到该文件。",
        "register.internal": "已改为内部材料：信访人看不到该文件。",
        "files.staff_title": "工作材料",
        "files.staff_help": (
            "调查材料、签批意见等内部材料，与信访人材料分开保存；"
            "只有标记为“文书的一部分”的文件信访人才能看到。"
        ),
        "files.none": "暂无工作材料",
        "files.upload": "上传文件",
        "files.origin": "材料类别",
        "files.origin.staff": "工作材料（内部）",
        "files.origin.petitioner": "信访人材料",
        "files.mark_in_document": "作为告知文书的一部分（信访人可见）",
        "files.upload_submit": "上传",
        "files.in_document": "文书的一部分",
        "files.internal": "内部",
        "files.make_in_document": "设为文书的一部分",
        "files.make_internal": "改为内部材料",
        "files.notice": "告知方式",
        "case.paper_only": "无电子联系方式，书面告知",
        "reason.paper_only": "无电子联系方式，须书面告知（当面送达或邮寄）",
        "audit.a.case.register": "登记信访事项",
        "audit.a.case.file_added": "上传材料",
        "audit.a.case.file_in_document": "材料设为文书的一部分",
        "audit.a.case.file_internal": "材料改为内部",
        "dash.by_channel": "按渠道",
        "report.channel": "渠道",
        "report.by_channel": "按渠道",
    },
    "en": {
        "nav.register": "Register",
        "register.title": "Register a petition",
        "register.help": (
            "Register a petition received by letter, visit or phone call. The questions are "
            "the chat's own and are checked the same way; the case then follows the same "
            "routing, clocks and statistics."
        ),
        "register.arrival": "Arrival",
        "register.channel": "Channel",
        "register.received_on": "Received on",
        "register.clock_note": "The acceptance deadline counts from the day it was received.",
        "register.petition": "Petition",
        "register.choose": "(choose)",
        "register.files": "Scans and materials",
        "register.files_help": "Scans of the letter, photos and the petitioner's materials",
        "register.submit": "Register",
        "register.invalid": "{count} item(s) need completing or correcting: see the marks.",
        "register.done": "Registered as {number} ({files} file(s)).",
        "register.out_of_scope": " It was routed to another department.",
        "register.unknown_field": "The form has no such field",
        "register.required": "Required",
        "register.future": "The day received cannot be after today",
        "register.too_old": "The day received is more than a year ago: please check it",
        "register.bad_date": "Give the day received, e.g. 2026-11-20",
        "register.bad_channel": "The channel is letter, visit or phone",
        "register.too_many_files": "At most {max} files at a time",
        "register.origin": "A file is the petitioner's material or an office file",
        "register.upload.too_big": "File too large (max {mb} MB each)",
        "register.upload.file_type": "This kind of file is not accepted (images, PDF, documents)",
        "register.upload.too_many_files": "At most {max} files at a time",
        "register.upload.malformed": "The upload form is malformed",
        "register.upload.empty": "Choose a file to upload",
        "register.file_added.petitioner": "{count} file(s) added to the petitioner's materials.",
        "register.file_added.staff": "{count} office file(s) uploaded.",
        "register.in_document": "Marked part of a document: the petitioner can see the file.",
        "register.internal": "Made internal: the petitioner cannot see the file.",
        "files.staff_title": "Office files",
        "files.staff_help": (
            "Investigation material, signed opinions: kept apart from the petitioner's "
            "materials; the petitioner sees only files marked part of a document."
        ),
        "files.none": "No office files yet",
        "files.upload": "Upload files",
        "files.origin": "Kind",
        "files.origin.staff": "Office file (internal)",
        "files.origin.petitioner": "Petitioner's material",
        "files.mark_in_document": "Part of a document the petitioner receives",
        "files.upload_submit": "Upload",
        "files.in_document": "Part of a document",
        "files.internal": "Internal",
        "files.make_in_document": "Make part of a document",
        "files.make_internal": "Make internal",
        "files.notice": "Notices",
        "case.paper_only": "No electronic contact: notices on paper",
        "reason.paper_only": "No electronic contact: to be told on paper (handed over or posted)",
        "audit.a.case.register": "Registered a petition",
        "audit.a.case.file_added": "Uploaded a file",
        "audit.a.case.file_in_document": "Made a file part of a document",
        "audit.a.case.file_internal": "Made a file internal",
        "dash.by_channel": "By channel",
        "report.channel": "Channel",
        "report.by_channel": "By channel",
    },
}
