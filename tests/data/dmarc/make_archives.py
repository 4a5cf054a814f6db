"""Write the compressed report fixtures in reports/ from the XML in xml/ (deterministic bytes).

Rerun (``python tests/data/dmarc/make_archives.py``) only after editing a file in xml/.
Names follow the reporters' attachment names: ``receiver!policy-domain!begin!end[!id].ext``.
"""

import gzip
import shutil
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
XML, REPORTS = HERE / "xml", HERE / "reports"

ZIPPED = {
    "google.xml": "google.com!example.com!1740960000!1741046399.zip",
    "outlook.xml": "enterprise.protection.outlook.com!example.com!1741046400!1741132799.zip",
}
GZIPPED = {
    "yahoo.xml": "yahoo.com!example.com!1740960000!1741046399.xml.gz",
    "mailru.xml": "mail.ru!example.com!1741046400!1741132799.xml.gz",
}
PLAIN = {
    "yahoo-example-org.xml": "yahoo.com!example.org!1740960000!1741046399.xml",
    "comcast-empty.xml": "comcast.net!example.com!1741046400!1741132799.xml",
}


def main() -> None:
    REPORTS.mkdir(exist_ok=True)
    for source, target in ZIPPED.items():
        member = zipfile.ZipInfo(target.removesuffix(".zip") + ".xml", date_time=(2025, 3, 5, 0, 0, 0))
        member.compress_type = zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(REPORTS / target, "w") as archive:
            archive.writestr(member, (XML / source).read_bytes())
    for source, target in GZIPPED.items():
        with open(REPORTS / target, "wb") as raw, gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0
        ) as out:
            out.write((XML / source).read_bytes())
    for source, target in PLAIN.items():
        shutil.copyfile(XML / source, REPORTS / target)


if __name__ == "__main__":
    main()
