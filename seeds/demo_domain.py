"""Deterministic demo data for the 2017 program year (``flask --app run seed demo``).

What it writes (all derived from the 1 November 2016 coordination meeting, domain.md):
agencies (OPD) of the province and of some kabupaten/kota; the TKPK of the province and
of every kabupaten/kota with members and documents (guideline status as stated in 2016);
2017 programs of all 3 clusters and all 8 synergy types; ~20,000 BDT-2015 households with
members, No KK / NIK that obey the Dukcapil rules and points inside their village (a few
deliberately in a neighbouring village or missing); ~40,000 enrolments with real overlaps
and gaps; priority zones of the 5 kabupaten above the provincial poverty rate plus two
drawn ones; BPS poverty indicators.

Rules:
- Deterministic: every random choice comes from ``random.Random`` seeded with a constant
  (one stream per section), points from ``ST_GeneratePoints(geom, n, seed)``.
- Idempotent: rows are inserted only when their natural key is missing (agency name +
  regency, program code, No KK, (household, NIK), (household, program, year), zone name +
  year, indicator area + period ...); a second run writes nothing.
- Set-based: households, members and enrolments are generated in Python, COPYed into
  temporary staging tables and written with one INSERT ... SELECT each (points by a
  spatial SQL statement), never an ORM loop.
- Works on any geography loaded by ``areas load-demo``: the real Lampung areas (2,640
  villages) or the small synthetic one (90 villages, fewer households).

Entry point: :func:`seed_demo_domain` with an open SQLAlchemy ``Connection`` inside a
transaction (the caller commits or rolls back).
"""
from __future__ import annotations

import math
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Callable, Optional

from sqlalchemy import and_, insert, select, text
from sqlalchemy.engine import Connection

from app.models.programs import Program
from app.models.tkpk import Agency, TkpkDocument, TkpkInstitution, TkpkMember
from app.models.zones import PovertyIndicator
from gis.zones import CLEAN_ZONE_SQL

SEED = 20161101  # the date of the coordination meeting
YEAR = 2017  # the program year the demo describes
TARGET_HOUSEHOLDS = 20_000
HOUSEHOLDS_PER_VILLAGE_CAP = 40  # small geographies get fewer households
SOURCE = "BDT 2015"
ADVISORY_LOCK = 7_180_001  # serialises concurrent `seed demo` runs

# --- areas ---------------------------------------------------------------------------------

POOR5 = ("18.03", "18.09", "18.07", "18.13", "18.08")  # above the provincial rate (March 2016)
ALL_REGENCIES = ("18.01", "18.02", "18.03", "18.04", "18.05", "18.06", "18.07", "18.08", "18.09", "18.10",
                 "18.11", "18.12", "18.13", "18.71", "18.72")
KOTA = ("18.71", "18.72")
RURAL = tuple(c for c in ALL_REGENCIES if c not in KOTA)
COASTAL = ("18.01", "18.05", "18.06", "18.07", "18.09", "18.11", "18.13", "18.71")
CAPITALS = {"18.01": "Kalianda", "18.02": "Gunung Sugih", "18.03": "Kotabumi", "18.04": "Liwa",
            "18.05": "Menggala", "18.06": "Kota Agung", "18.07": "Sukadana", "18.08": "Blambangan Umpu",
            "18.09": "Gedong Tataan", "18.10": "Pringsewu", "18.11": "Wiralaga Mulya", "18.12": "Panaragan",
            "18.13": "Krui", "18.71": "Bandar Lampung", "18.72": "Metro"}


def short_name(regency_name: str) -> str:
    """'Kabupaten Lampung Timur' -> 'Lampung Timur'."""
    for prefix in ("Kabupaten ", "Kota "):
        if regency_name.startswith(prefix):
            return regency_name[len(prefix):]
    return regency_name


def regency_zone_name(regency_name: str) -> str:
    """Name (and, with YEAR, natural key) of the priority zone of a kabupaten above average."""
    return f"Zona Prioritas {short_name(regency_name)} {YEAR}"


# --- agencies (OPD) --------------------------------------------------------------------------

# (name, sector, regency code or None for the province)
AGENCIES = [
    ("Bappeda", "perencanaan", None),
    ("Dinas Sosial", "sosial", None),
    ("Dinas Kesehatan", "kesehatan", None),
    ("Dinas Pendidikan dan Kebudayaan", "pendidikan", None),
    ("Dinas Koperasi dan UMKM", "koperasi dan UMKM", None),
    ("Dinas Perumahan dan Permukiman", "perumahan", None),
    ("Dinas Kelautan dan Perikanan", "kelautan dan perikanan", None),
    ("Dinas Tanaman Pangan dan Hortikultura", "pertanian", None),
    ("Dinas Peternakan dan Kesehatan Hewan", "peternakan", None),
    ("Dinas Pemberdayaan Perempuan dan Perlindungan Anak", "pemberdayaan perempuan", None),
    ("Dinas Pemberdayaan Masyarakat dan Desa", "pemberdayaan masyarakat", None),
    ("Dinas Tenaga Kerja", "ketenagakerjaan", None),
    ("Dinas Perindustrian", "perindustrian", None),
    ("Dinas Sosial", "sosial", "18.03"),
    ("Dinas Pendidikan dan Kebudayaan", "pendidikan", "18.03"),
    ("Dinas Sosial", "sosial", "18.07"),
    ("Dinas Koperasi dan UMKM", "koperasi dan UMKM", "18.07"),
    ("Dinas Sosial", "sosial", "18.08"),
    ("Dinas Kesehatan", "kesehatan", "18.08"),
    ("Dinas Sosial", "sosial", "18.09"),
    ("Dinas Perumahan dan Permukiman", "perumahan", "18.09"),
    ("Dinas Sosial", "sosial", "18.13"),
    ("Dinas Perikanan", "kelautan dan perikanan", "18.13"),
    ("Dinas Sosial", "sosial", "18.71"),
    ("Dinas Koperasi dan UMKM", "koperasi dan UMKM", "18.71"),
]

# --- programs 2017 ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgramSpec:
    suffix: str  # code = PRV-2017-<suffix> or <regency digits>-2017-<suffix>
    name: str
    cluster: int
    synergy: str
    agency: str
    regency: Optional[str]  # owner's regency (kabupaten level) or None (province level)
    coverage: tuple[str, ...]
    benefits: tuple[int, ...]  # Rupiah per household, one chosen per enrolment
    target_desil: int
    status: str
    weight: float  # how often it is picked for a household it covers

    @property
    def code(self) -> str:
        owner = "PRV" if self.regency is None else self.regency.replace(".", "")
        return f"{owner}-{YEAR}-{self.suffix}"

    @property
    def level(self) -> str:
        return "provinsi" if self.regency is None else "kabupaten"


def _prv(suffix, name, cluster, synergy, agency, coverage, benefits, desil, status, weight):
    return ProgramSpec(suffix, name, cluster, synergy, agency, None, tuple(coverage), tuple(benefits), desil,
                       status, weight)


def _kab(regency, suffix, name, cluster, synergy, agency, benefits, desil, status, weight=6.0):
    return ProgramSpec(suffix, name, cluster, synergy, agency, regency, (regency,), tuple(benefits), desil, status,
                       weight)


PROGRAMS = [
    # cluster 1: basic services; 2: community empowerment; 3: micro-enterprise (UMKM)
    _prv("A01", "Bedah Rumah Tidak Layak Huni", 1, "a", "Dinas Perumahan dan Permukiman", ALL_REGENCIES,
         [15_000_000], 1, "berjalan", 3),
    _prv("A02", "Peningkatan Kualitas Rumah Nelayan", 1, "a", "Dinas Perumahan dan Permukiman", COASTAL,
         [12_500_000], 1, "berjalan", 2),
    _prv("B01", "Pelatihan Kewirausahaan Perempuan", 2, "b",
         "Dinas Pemberdayaan Perempuan dan Perlindungan Anak", ALL_REGENCIES, [2_500_000], 2, "selesai", 4),
    _prv("B02", "Bantuan Modal Usaha Kelompok Perempuan (UP2K)", 2, "b",
         "Dinas Pemberdayaan Perempuan dan Perlindungan Anak", POOR5 + ("18.02",), [3_000_000], 1, "berjalan", 4),
    _prv("C01", "Pelatihan Keterampilan Kerja Berbasis Kompetensi", 3, "c", "Dinas Tenaga Kerja", ALL_REGENCIES,
         [3_500_000], 2, "selesai", 3),
    _prv("C02", "Pelatihan Kewirausahaan Pemuda Desa", 3, "c", "Dinas Pemberdayaan Masyarakat dan Desa", RURAL,
         [2_000_000], 2, "berjalan", 3),
    _prv("C03", "Pelatihan Industri Kecil Kerajinan Tapis", 3, "c", "Dinas Perindustrian", ALL_REGENCIES,
         [2_000_000], 2, "berjalan", 2),
    _prv("D01", "Bantuan Sarana Nelayan", 2, "d", "Dinas Kelautan dan Perikanan", COASTAL,
         [5_000_000, 7_500_000], 1, "berjalan", 5),
    _prv("D02", "Bantuan Benih dan Alat Mesin Pertanian", 2, "d", "Dinas Tanaman Pangan dan Hortikultura", RURAL,
         [4_000_000], 1, "selesai", 6),
    _prv("D03", "Bantuan Ternak Kambing Rumah Tangga Miskin", 2, "d", "Dinas Peternakan dan Kesehatan Hewan", POOR5,
         [6_000_000], 1, "berjalan", 4),
    _prv("E01", "Pemberian Makanan Tambahan Balita", 1, "e", "Dinas Kesehatan", ALL_REGENCIES, [450_000], 1,
         "berjalan", 8),
    _prv("E02", "Pemberian Makanan Tambahan Ibu Hamil Kurang Energi Kronis", 1, "e", "Dinas Kesehatan",
         ALL_REGENCIES, [540_000], 1, "selesai", 5),
    _prv("F01", "Bantuan Sosial Penyandang Disabilitas Berat", 1, "f", "Dinas Sosial", ALL_REGENCIES,
         [1_800_000], 1, "berjalan", 4),
    _prv("F02", "Asistensi Sosial Lanjut Usia Terlantar", 1, "f", "Dinas Sosial", ALL_REGENCIES, [2_400_000], 1,
         "berjalan", 4),
    _prv("G01", "Bantuan Modal Usaha Mikro", 3, "g", "Dinas Koperasi dan UMKM", ALL_REGENCIES,
         [3_000_000, 5_000_000], 2, "berjalan", 5),
    _prv("G02", "Pendampingan dan Sertifikasi Produk UMKM", 3, "g", "Dinas Koperasi dan UMKM", ALL_REGENCIES,
         [1_500_000], 3, "selesai", 3),
    _prv("H01", "Beasiswa Siswa Miskin SMA/SMK", 1, "h", "Dinas Pendidikan dan Kebudayaan", ALL_REGENCIES,
         [1_000_000], 1, "berjalan", 7),
    _prv("H02", "Bantuan Biaya Pendidikan Mahasiswa Kurang Mampu", 1, "h", "Dinas Pendidikan dan Kebudayaan",
         ALL_REGENCIES, [2_400_000], 2, "selesai", 2),
    _prv("L01", "Pembangunan Jamban Sehat Keluarga", 1, "lainnya", "Dinas Kesehatan", RURAL, [2_000_000], 1,
         "berjalan", 4),
    _kab("18.03", "A01", "Bedah Rumah Tidak Layak Huni Kabupaten", 1, "a", "Dinas Sosial", [10_000_000], 1,
         "berjalan"),
    _kab("18.03", "H01", "Beasiswa Siswa Miskin SD dan SMP", 1, "h", "Dinas Pendidikan dan Kebudayaan",
         [750_000], 1, "selesai"),
    _kab("18.07", "G01", "Kredit Usaha Mikro Bergulir", 3, "g", "Dinas Koperasi dan UMKM",
         [2_500_000, 5_000_000], 2, "berjalan"),
    _kab("18.07", "C01", "Pelatihan Kewirausahaan Pengolahan Hasil Perikanan", 3, "c", "Dinas Koperasi dan UMKM",
         [1_750_000], 2, "selesai", 5),
    _kab("18.07", "F01", "Bantuan Sosial Rumah Tangga Sangat Miskin", 1, "f", "Dinas Sosial", [1_200_000], 1,
         "berjalan"),
    _kab("18.08", "E01", "Pemulihan Gizi Buruk dan Makanan Tambahan Balita", 1, "e", "Dinas Kesehatan",
         [600_000], 1, "berjalan"),
    _kab("18.08", "F01", "Bantuan Sosial Penyandang Masalah Kesejahteraan Sosial", 1, "f", "Dinas Sosial",
         [1_500_000], 1, "selesai", 5),
    _kab("18.09", "A01", "Rehabilitasi Rumah Tidak Layak Huni", 1, "a", "Dinas Perumahan dan Permukiman",
         [12_000_000], 1, "berjalan", 5),
    _kab("18.09", "B01", "Pemberdayaan Ekonomi Perempuan Pesisir", 2, "b", "Dinas Sosial", [2_000_000], 1,
         "berjalan", 5),
    _kab("18.13", "D01", "Bantuan Sarana Tangkap Nelayan Kecil", 2, "d", "Dinas Perikanan", [6_500_000], 1,
         "berjalan"),
    _kab("18.13", "F01", "Bantuan Sosial Lanjut Usia", 1, "f", "Dinas Sosial", [1_200_000], 1, "berjalan", 5),
    _kab("18.71", "G01", "Pelatihan dan Bantuan Modal Usaha Mikro Perkotaan", 3, "g", "Dinas Koperasi dan UMKM",
         [3_000_000], 2, "berjalan"),
    _kab("18.71", "F01", "Bantuan Sosial PMKS Perkotaan", 1, "f", "Dinas Sosial", [1_500_000], 1, "selesai", 5),
]

# --- TKPK ------------------------------------------------------------------------------------

PEDOMAN_STATUS = {"18.07": "selesai", "18.10": "selesai", "18.05": "selesai", "18.08": "selesai",
                  "18.72": "selesai", "18.11": "penyusunan", "18.71": "penyusunan"}  # others: belum
SPKD_STATUS = {"18.11": "penyusunan", "18.12": "penyusunan", "18.13": "belum"}  # others: selesai
FACILITIES = [
    "Ruang sekretariat bergabung dengan Bappeda", "1 unit komputer dan printer", "Akses internet kantor",
    "Lemari arsip", "2 unit komputer", "Ruang rapat bersama Bappeda", "Papan data kemiskinan",
]
FACILITIES_LACKING = [
    "Ruang sekretariat tersendiri", "Tenaga operator data tetap", "Perangkat server basis data terpadu",
    "Kendaraan operasional verifikasi lapangan", "Anggaran operasional sekretariat", "Laptop untuk pendataan",
    "Pelatihan pengelolaan BDT bagi staf",
]

# --- poverty indicators (BPS) ----------------------------------------------------------------

# Province: (year, period, rate %, poor people, RPJMD target %, source)
PROVINCE_INDICATORS = [
    (2015, "maret", "14.35", 1_163_490, "13.50", "BPS Maret 2015"),
    (2015, "september", "13.53", 1_100_680, "13.50", "BPS September 2015"),
    (2016, "maret", "14.29", 1_169_600, "12.93", "BPS Maret 2016"),
    (2016, "september", "13.86", 1_139_780, "12.93", "BPS September 2016"),
    (2017, "maret", "13.69", 1_131_730, "12.46", "BPS Maret 2017"),
    (2017, "september", "13.04", 1_083_740, "12.46", "BPS September 2017"),
]
# Regencies, March 2016: rate %, poor people, 2016 target %. Exactly the five of POOR5 lie
# above the provincial 14.29 %; the poor people add up to the province's 1,169,600.
REGENCY_INDICATORS_2016 = {
    "18.01": ("14.24", 141_000, "13.50"), "18.02": ("13.98", 174_800, "13.20"),
    "18.03": ("23.85", 146_000, "22.00"), "18.04": ("13.99", 41_600, "13.30"),
    "18.05": ("10.72", 46_100, "10.00"), "18.06": ("14.12", 82_500, "13.40"),
    "18.07": ("16.98", 172_000, "15.80"), "18.08": ("14.98", 65_000, "14.00"),
    "18.09": ("16.62", 72_000, "15.50"), "18.10": ("11.47", 45_000, "10.80"),
    "18.11": ("8.05", 15_900, "7.60"), "18.12": ("8.18", 21_800, "7.70"),
    "18.13": ("15.91", 24_200, "14.90"), "18.71": ("10.60", 105_700, "9.90"),
    "18.72": ("9.89", 16_000, "9.40"),
}
PROVINCE_RATE_2016 = Decimal("14.29")

# --- zones -----------------------------------------------------------------------------------

# regency code -> (basis, priority level); 'desil' = the villages with most desil-1 households,
# 'kewilayahan' = whole kecamatan (the two with most desil-1 households).
REGENCY_ZONES = {"18.03": ("desil", 1), "18.09": ("kewilayahan", 1), "18.07": ("desil", 2),
                 "18.13": ("kewilayahan", 2), "18.08": ("desil", 2)}
# Hand-drawn polygons (lon lat), clipped to the land of their owner area.
COASTAL_BELT = ("Sabuk Pesisir Nelayan Pantai Timur", None, 2,
                "Digambar: sabuk pesisir ±10–15 km dari garis pantai timur (Tulang Bawang, Lampung Timur, "
                "Lampung Selatan), kampung nelayan dengan rumah tangga miskin.",
                [(105.70, -4.15), (105.95, -4.15), (105.98, -4.45), (105.98, -4.95), (105.95, -5.25),
                 (105.90, -5.55), (105.87, -5.80), (105.72, -5.80), (105.72, -5.55), (105.74, -5.25),
                 (105.78, -4.95), (105.78, -4.45), (105.70, -4.15)])
POVERTY_POCKET = ("Kantong Kemiskinan Sungkai–Bunga Mayang", "18.03", 1,
                  "Digambar: kantong kemiskinan di wilayah Sungkai Utara, Bunga Mayang dan Muara Sungkai "
                  "(hasil pemetaan TKPK Lampung Utara).",
                  [(104.70, -4.56), (104.98, -4.55), (105.00, -4.66), (104.90, -4.72), (104.74, -4.70),
                   (104.68, -4.63), (104.70, -4.56)])

# --- names and addresses ---------------------------------------------------------------------

MALE_NAMES = [
    "Ahmad", "Muhammad", "Abdul Rahman", "Agus", "Bambang", "Budi", "Darmawan", "Dedi", "Eko", "Edi", "Fauzi",
    "Hadi", "Hasan", "Hendra", "Heri", "Imam", "Iwan", "Joko", "Junaidi", "Kusnadi", "Lukman", "Mahmud",
    "Marzuki", "Mulyadi", "Nur Hadi", "Paimin", "Parjo", "Rahmat", "Ridwan", "Rusdi", "Sabar", "Samsul",
    "Slamet", "Sugeng", "Sugiono", "Sukardi", "Sumarno", "Supardi", "Suparman", "Suprapto", "Surono",
    "Sutrisno", "Syahrial", "Syaiful", "Tukiman", "Wagiman", "Wahyudi", "Yusuf", "Zainal", "Zulkifli",
    "Herman", "Ismail", "Marwan", "Azwar", "Effendi", "Hasanuddin", "Ujang", "Asep", "Mat Soleh", "Sarman",
    "Karyono", "Waluyo", "Basuki", "Yahya", "Rustam", "Sahrudin",
]
FEMALE_NAMES = [
    "Siti Aminah", "Siti Rohmah", "Sri Wahyuni", "Sri Lestari", "Sumiati", "Suryani", "Sulastri", "Suparmi",
    "Tuminah", "Painem", "Wartini", "Warsini", "Nurhayati", "Nur Aini", "Yuliana", "Ratna", "Dewi", "Endang",
    "Rosmiati", "Aminah", "Fatimah", "Halimah", "Khadijah", "Marlina", "Yusnani", "Erna", "Lina", "Rina",
    "Yanti", "Mulyani", "Sarinah", "Juwariyah", "Darmini", "Murni", "Rusmini", "Partini", "Sukarti", "Nining",
    "Iis", "Kartini", "Herlina", "Yusmiati", "Rosita", "Mardiana", "Salmah", "Rohani", "Mariam", "Zubaidah",
]
BALI_ORDER = ["Wayan", "Made", "Nyoman", "Ketut", "Putu", "Komang"]
BALI_NAMES = ["Sudarma", "Suarta", "Artawan", "Sukerta", "Widiastuti", "Sariasih", "Astawa", "Yasa", "Darmini"]
FAMILY_NAMES = [
    "Santoso", "Wibowo", "Susanto", "Purnomo", "Nugroho", "Setiawan", "Hidayat", "Saputra", "Kurniawan",
    "Pratama", "Wijaya", "Prasetyo", "Riyadi", "Suryadi", "Hartono", "Gunawan", "Firmansyah", "Syahputra",
    "Hakim", "Siregar", "Nasution", "Harahap", "Lubis", "Simanjuntak", "Chaniago", "Tanjung", "Rasyid",
]
FEMALE_FAMILY_NAMES = ["Saputri", "Lestari", "Wulandari", "Handayani", "Rahayu", "Susanti", "Purwanti",
                       "Anggraini", "Siregar", "Nasution", "Harahap", "Lubis"]
LAMPUNG_ADOK = ["Radin", "Minak", "Batin", "Kimas", "Raden"]  # Lampung honorific titles
TITLES_BEFORE = ["", "", "Drs. ", "Ir. ", "H. ", "Dr. ", "Hj. "]
TITLES_AFTER = [", M.Si.", ", M.M.", ", S.E., M.M.", ", S.Sos., M.Si.", ", M.T.", ", S.H., M.H.", ", M.Kes."]
STREETS = [
    "Jl. Raden Intan", "Jl. Diponegoro", "Jl. Imam Bonjol", "Jl. Teuku Umar", "Jl. Kartini", "Jl. Sudirman",
    "Jl. Ahmad Yani", "Jl. Pramuka", "Jl. Pendidikan", "Jl. Masjid", "Jl. Pasar", "Jl. Cendana", "Jl. Melati",
    "Jl. Flamboyan", "Jl. Hasanuddin", "Jl. Pangeran Antasari", "Jl. Gatot Subroto", "Jl. Way Sekampung",
    "Jl. Way Semangka", "Jl. Lintas Sumatera",
]
DUSUN = ["Sidodadi", "Sukamaju", "Karang Anyar", "Sumber Rejo", "Margo Mulyo", "Suka Makmur", "Tanjung Sari",
         "Banjar Sari", "Purwodadi", "Tegal Sari", "Sido Mulyo", "Bumi Rejo", "Sinar Harapan", "Talang Jawa",
         "Pekon Tengah", "Kampung Baru"]
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII"]


def _person_name(rng: random.Random, sex: str) -> str:
    if rng.random() < 0.05:  # Balinese transmigrant families (Lampung Tengah, Lampung Timur ...)
        return f"{'I' if sex == 'L' else 'Ni'} {rng.choice(BALI_ORDER)} {rng.choice(BALI_NAMES)}"
    if sex == "L":
        name = rng.choice(MALE_NAMES)
        if rng.random() < 0.05:
            name = f"{rng.choice(LAMPUNG_ADOK)} {name}"
        if rng.random() < 0.45:
            name = f"{name} {rng.choice(FAMILY_NAMES)}"
        return name
    name = rng.choice(FEMALE_NAMES)
    if " " not in name and rng.random() < 0.35:
        name = f"{name} {rng.choice(FEMALE_FAMILY_NAMES)}"
    return name


def _official_name(rng: random.Random) -> str:
    sex = "P" if rng.random() < 0.25 else "L"
    before = rng.choice(TITLES_BEFORE)
    if sex == "L" and before == "Hj. ":
        before = "H. "
    if sex == "P" and before in ("H. ", "Drs. "):
        before = {"H. ": "Hj. ", "Drs. ": "Dra. "}[before]
    return f"{before}{_person_name(rng, sex)}{rng.choice(TITLES_AFTER)}"


def _rand_date(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, (end - start).days))


def _ddmmyy(d: date, plus: int = 0) -> str:
    return f"{d.day + plus:02d}{d.month:02d}{d.year % 100:02d}"


def _rupiah(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def _ceil_to(value: Decimal, step: int) -> Decimal:
    return _rupiah((value / step).to_integral_value(rounding=ROUND_CEILING) * step)


# --- the plan: households, members, enrolments (pure Python, deterministic) ------------------


@dataclass(frozen=True)
class VillageRow:
    id: int
    code: str
    name: str
    kind: str
    district_code: str
    regency_code: str


@dataclass
class Plan:
    households: list = field(default_factory=list)  # rows for the staging table
    members: list = field(default_factory=list)
    enrolments: list = field(default_factory=list)
    program_totals: dict = field(default_factory=dict)  # code -> (target hh, budget, realised)


def _allocate(weights: list[float], total: int) -> list[int]:
    """Largest-remainder split of ``total`` by ``weights``."""
    s = sum(weights)
    if s <= 0 or total <= 0:
        return [0] * len(weights)
    raw = [w * total / s for w in weights]
    counts = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


# Number of programs a household is in, by desil: many desil-1 households in none (gaps),
# many in 2+ (overlap).
PROGRAMS_PER_HOUSEHOLD = {
    1: ([0, 1, 2, 3, 4, 5], [20, 12, 22, 22, 15, 9]),
    2: ([0, 1, 2, 3, 4], [11, 17, 31, 26, 15]),
    3: ([0, 1, 2, 3, 4], [16, 24, 31, 20, 9]),
    4: ([0, 1, 2, 3], [25, 32, 28, 15]),
}
ENROLMENT_STATUS = {  # program status -> (statuses, weights)
    "selesai": (["disalurkan", "ditetapkan", "ditolak"], [86, 9, 5]),
    "berjalan": (["disalurkan", "ditetapkan", "usulan", "ditolak"], [52, 30, 12, 6]),
}
ENROLMENT_DATES = {
    "usulan": (date(YEAR, 1, 5), date(YEAR, 3, 31)),
    "ditetapkan": (date(YEAR, 2, 1), date(YEAR, 6, 30)),
    "disalurkan": (date(YEAR, 3, 1), date(YEAR, 11, 30)),
    "ditolak": (date(YEAR, 2, 1), date(YEAR, 5, 31)),
}


def build_plan(villages: list[VillageRow], programs: list[ProgramSpec]) -> Plan:
    """Every household, member and enrolment of the demo, as plain tuples.

    Depends only on the villages (in code order) and the program list, so the same
    geography always gives the same rows."""
    plan = Plan()
    rng = random.Random(f"{SEED}-households")
    total = min(TARGET_HOUSEHOLDS, HOUSEHOLDS_PER_VILLAGE_CAP * len(villages))
    weights, poverty = [], []
    for v in villages:
        factor = 1.6 if v.regency_code in POOR5 else 0.9 if v.regency_code in KOTA else 1.0
        if v.kind == "kelurahan" and v.regency_code not in KOTA:  # small-town kelurahan of a kabupaten
            factor *= 0.6
        weights.append(factor * rng.uniform(0.4, 1.6))
        poverty.append(rng.uniform(-1, 1) + (0.35 if v.regency_code in POOR5 else 0)
                       - (0.3 if v.regency_code in KOTA else 0))
    counts = _allocate(weights, total)
    kk_serial: Counter = Counter()
    person_serial: Counter = Counter()

    def nik(kec: str, born: date, sex: str) -> str:
        person_serial[kec] += 1
        if person_serial[kec] > 9999:
            raise RuntimeError(f"too many demo persons in kecamatan {kec}")
        return f"{kec}{_ddmmyy(born, 40 if sex == 'P' else 0)}{person_serial[kec]:04d}"

    sizes, size_weights = [1, 2, 3, 4, 5, 6, 7, 8], [6, 12, 20, 24, 17, 11, 6, 4]
    for v, n, s in zip(villages, counts, poverty):
        kec = v.district_code.replace(".", "")
        desil_weights = [28 * (1 + 0.45 * s), 28 * (1 + 0.15 * s), 22 * (1 - 0.15 * s), 20 * (1 - 0.4 * s)]
        urban = v.kind == "kelurahan"
        for _ in range(n):
            kk_serial[kec] += 1
            issued = _rand_date(rng, date(2005, 1, 1), date(2015, 6, 30))
            no_kk = f"{kec}{_ddmmyy(issued)}{kk_serial[kec]:04d}"
            sex = "P" if rng.random() < 0.14 else "L"
            born = _rand_date(rng, date(1945, 1, 1), date(1993, 12, 31))
            head_nik = nik(kec, born, sex)
            head_name = _person_name(rng, sex)
            if urban:
                address = f"{rng.choice(STREETS)} Gg. {rng.choice(DUSUN)} No. {rng.randint(1, 120)}"
            elif rng.random() < 0.2:
                address = f"{rng.choice(STREETS)} Km {rng.randint(1, 40)}, Dusun {rng.choice(ROMAN)}"
            else:
                address = f"Dusun {rng.choice(ROMAN[:6])} {rng.choice(DUSUN)}"
            rt, rw = f"{rng.randint(1, 12):03d}", f"{rng.randint(1, 5):03d}"
            desil = rng.choices((1, 2, 3, 4), desil_weights)[0]
            member_count = rng.choices(sizes, size_weights)[0]
            source_date = _rand_date(rng, date(2015, 7, 1), date(2015, 10, 31))
            r = rng.random()
            placement = "none" if r < 0.02 else "nb" if r < 0.05 else "in"
            plan.households.append((no_kk, head_nik, head_name, address, rt, rw, v.id, desil, member_count,
                                    SOURCE, source_date, placement, v.regency_code))
            # Members listed: the head, a spouse for most married men, up to 3 persons in all.
            plan.members.append((no_kk, head_nik, head_name, sex, born, "kepala"))
            listed = 1
            family = head_name.rsplit(" ", 1)[1] if sex == "L" and " " in head_name else None
            if sex == "L" and member_count >= 2 and rng.random() < 0.9:
                wife_born = min(_rand_date(rng, born - timedelta(days=3 * 365), born + timedelta(days=10 * 365)),
                                date(1997, 12, 31))
                plan.members.append((no_kk, nik(kec, wife_born, "P"), _person_name(rng, "P"), "P", wife_born,
                                     "istri/suami"))
                listed += 1
            kids_from, kids_to = born + timedelta(days=20 * 365), min(born + timedelta(days=42 * 365),
                                                                       date(2015, 6, 30))
            while listed < min(member_count, 3) and kids_from < kids_to:
                kid_sex = rng.choice("LP")
                kid_born = _rand_date(rng, kids_from, kids_to)
                kid_name = _person_name(rng, kid_sex)
                if family and family in FAMILY_NAMES and kid_sex == "L" and " " not in kid_name:
                    kid_name = f"{kid_name} {family}"
                plan.members.append((no_kk, nik(kec, kid_born, kid_sex), kid_name, kid_sex, kid_born, "anak"))
                listed += 1

    _plan_enrolments(plan, programs)
    return plan


def _plan_enrolments(plan: Plan, programs: list[ProgramSpec]) -> None:
    rng = random.Random(f"{SEED}-enrolments")
    by_regency: dict[str, list[ProgramSpec]] = defaultdict(list)
    for p in programs:
        for code in p.coverage:
            by_regency[code].append(p)
    planned = defaultdict(lambda: [0, Decimal(0), Decimal(0)])  # code -> [households, planned, paid]
    for hh in plan.households:
        no_kk, desil, regency = hh[0], hh[7], hh[12]
        eligible = by_regency.get(regency, [])
        ks, kw = PROGRAMS_PER_HOUSEHOLD[desil]
        k = min(rng.choices(ks, kw)[0], len(eligible))
        if k == 0:
            continue
        # Weighted sampling without replacement (Efraimidis-Spirakis keys).
        keyed = []
        for p in eligible:
            w = p.weight * (1.0 if desil <= p.target_desil else 0.55 ** (desil - p.target_desil))
            keyed.append((rng.random() ** (1.0 / w), p.code, p))
        keyed.sort(reverse=True)
        for _, _, p in keyed[:k]:
            statuses, sw = ENROLMENT_STATUS[p.status]
            status = rng.choices(statuses, sw)[0]
            benefit = None if status == "ditolak" else _rupiah(rng.choice(p.benefits))
            when = _rand_date(rng, *ENROLMENT_DATES[status])
            plan.enrolments.append((no_kk, p.code, status, benefit, when))
            if benefit is not None:
                totals = planned[p.code]
                totals[0] += 1
                totals[1] += benefit
                if status == "disalurkan":
                    totals[2] += benefit
    for p in programs:
        households, planned_sum, paid = planned[p.code]
        if households == 0:  # a program without demo households still gets a plausible size
            households, planned_sum = 100, _rupiah(100 * p.benefits[0])
        target = int(math.ceil(households * 1.1 / 10) * 10)
        operations = planned_sum * Decimal("0.05")  # socialisation, verification, monitoring
        budget = _ceil_to(planned_sum * Decimal("1.10") + operations, 1_000_000)
        realised = paid + (operations * Decimal("0.9") if p.status == "selesai" else operations * Decimal("0.4"))
        realised = min(_ceil_to(realised, 1_000), budget)
        plan.program_totals[p.code] = (target, budget, realised)


# --- writing ---------------------------------------------------------------------------------


def _ensure(conn: Connection, table, key: dict, values: dict) -> tuple[int, bool]:
    """Id of the row with ``key`` (NULL-safe), inserted with ``values`` when missing."""
    cond = and_(*[table.c[k].is_(None) if v is None else table.c[k] == v for k, v in key.items()])
    found = conn.execute(select(table.c.id).where(cond).limit(1)).scalar()
    if found is not None:
        return found, False
    return conn.execute(insert(table).values(**key, **values).returning(table.c.id)).scalar_one(), True


def _copy(conn: Connection, table: str, columns: list[str], rows) -> None:
    raw = conn.connection.driver_connection  # psycopg 3, same transaction as ``conn``
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


class Seeder:
    def __init__(self, conn: Connection, echo: Callable[[str], None]):
        self.conn = conn
        self.echo = echo
        self.created: Counter = Counter()
        self.regencies = {code: (rid, name) for rid, code, name in conn.execute(
            text("SELECT id, code, name FROM regency ORDER BY code"))}
        self.province = conn.execute(text("SELECT id FROM province WHERE code = '18'")).scalar()
        self.agencies: dict[tuple[str, Optional[str]], int] = {}

    def rid(self, code: Optional[str]) -> Optional[int]:
        return None if code is None else self.regencies[code][0]

    # 1. agencies ---------------------------------------------------------------------------
    def agencies_(self) -> None:
        for name, sector, rcode in AGENCIES:
            if rcode is not None and rcode not in self.regencies:
                continue
            aid, new = _ensure(self.conn, Agency.__table__, {"name": name, "regency_id": self.rid(rcode)},
                               {"sector": sector, "level": "provinsi" if rcode is None else "kabupaten"})
            self.agencies[(name, rcode)] = aid
            self.created["agency"] += new

    # 2. TKPK --------------------------------------------------------------------------------
    def tkpk(self) -> None:
        rng = random.Random(f"{SEED}-tkpk")
        institutions = [(None, "Provinsi Lampung")] + [(c, n) for c, (_, n) in self.regencies.items()]
        for rcode, rname in institutions:
            short = short_name(rname)
            if rcode is None:
                chair_title, place = "Wakil Gubernur Lampung", "Bappeda Provinsi Lampung"
                decree = "SK Gubernur Lampung No. G/295/B.VII/HK/2016"
                address = f"{place}, Jl. Robert Wolter Monginsidi No. 69, Teluk Betung, Bandar Lampung"
            else:
                head = "Walikota" if rname.startswith("Kota ") else "Bupati"
                chair_title, place = f"Wakil {head} {short}", f"Bappeda {rname}"
                decree = f"Keputusan {head} {short} No. B/{rng.randint(100, 480)}/{rcode.replace('.', '')}/HK/2016"
                address = f"{place}, Kompleks Perkantoran Pemda, {CAPITALS.get(rcode, short)}"
            chair_name = _official_name(rng)
            available = rng.sample(FACILITIES, rng.randint(2, 4))
            lacking = rng.sample(FACILITIES_LACKING, rng.randint(2, 4))
            if any(f.startswith("Ruang sekretariat bergabung") for f in available):
                lacking = [f for f in lacking if not f.startswith("Ruang sekretariat")]
                lacking.append("Ruang sekretariat tersendiri")
            iid, new = _ensure(self.conn, TkpkInstitution.__table__, {"regency_id": self.rid(rcode)}, {
                "level": "provinsi" if rcode is None else "kabupaten",
                "decree_number": decree,
                "decree_date": _rand_date(rng, date(2016, 1, 11), date(2016, 9, 30)),
                "chair": f"{chair_name} ({chair_title})",
                "secretariat_address": address,
                "facilities_available": "; ".join(available),
                "facilities_lacking": "; ".join(sorted(set(lacking))),
            })
            self.created["tkpk_institution"] += new
            chair = f"Ketua ({chair_title})"
            members = [(chair, None), (f"Sekretaris (Kepala {place})", ("Bappeda", rcode)),
                       ("Ketua Pokja Pendataan dan Sistem Informasi", ("Bappeda", rcode)),
                       ("Ketua Pokja Pengembangan Kemitraan", ("Dinas Pemberdayaan Masyarakat dan Desa", rcode)),
                       ("Anggota (Kepala Dinas Sosial)", ("Dinas Sosial", rcode))]
            if rcode is None:
                members += [("Anggota (Kepala Dinas Kesehatan)", ("Dinas Kesehatan", None)),
                            ("Anggota (Kepala Dinas Koperasi dan UMKM)", ("Dinas Koperasi dan UMKM", None))]
            for position, agency in members:
                name = chair_name if position == chair else _official_name(rng)
                _, new = _ensure(self.conn, TkpkMember.__table__, {"institution_id": iid, "position": position},
                                 {"name": name, "agency_id": self.agencies.get(agency) if agency else None})
                self.created["tkpk_member"] += new
            pedoman = "belum" if rcode is None else PEDOMAN_STATUS.get(rcode, "belum")
            spkd = "selesai" if rcode is None else SPKD_STATUS.get(rcode, "selesai")
            for kind, status in (("pedoman", pedoman), ("spkd", spkd)):
                when = {"selesai": _rand_date(rng, date(2014, 3, 1), date(2016, 10, 31)),
                        "penyusunan": date(2016, 11, 1), "belum": None}[status]
                _, new = _ensure(self.conn, TkpkDocument.__table__, {"institution_id": iid, "kind": kind},
                                 {"status": status, "status_date": when})
                self.created["tkpk_document"] += new

    # 7. indicators --------------------------------------------------------------------------
    def indicators(self) -> None:
        table = PovertyIndicator.__table__
        if self.province is not None:
            for year, period, rate, poor, target, source in PROVINCE_INDICATORS:
                _, new = _ensure(self.conn, table, {"province_id": self.province, "regency_id": None,
                                                     "year": year, "period": period},
                                 {"poverty_rate": Decimal(rate), "poor_people": poor,
                                  "target_rate": Decimal(target), "source": source})
                self.created["poverty_indicator", "targeting_snapshot", "household_snapshot"] += new
        for rcode, (rate, poor, target) in REGENCY_INDICATORS_2016.items():
            if rcode not in self.regencies:
                continue
            _, new = _ensure(self.conn, table, {"province_id": None, "regency_id": self.rid(rcode),
                                                 "year": 2016, "period": "maret"},
                             {"poverty_rate": Decimal(rate), "poor_people": poor, "target_rate": Decimal(target),
                              "source": "BPS Maret 2016"})
            self.created["poverty_indicator", "targeting_snapshot", "household_snapshot"] += new

    # 3. programs ----------------------------------------------------------------------------
    def programs(self, plan: Plan) -> list[ProgramSpec]:
        usable = [p for p in PROGRAMS if (p.agency, p.regency) in self.agencies]
        for p in usable:
            target, budget, realised = plan.program_totals[p.code]
            pid, new = _ensure(self.conn, Program.__table__, {"code": p.code}, {
                "name": p.name, "cluster": p.cluster, "synergy_type": p.synergy,
                "agency_id": self.agencies[(p.agency, p.regency)], "level": p.level, "fiscal_year": YEAR,
                "budget": budget, "realised_budget": realised, "target_households": target,
                "target_desil": p.target_desil, "status": p.status})
            self.created["program"] += new
            covered = [self.rid(c) for c in p.coverage if c in self.regencies]
            if new and covered:
                self.created["program_regency"] += self.conn.execute(text(
                    "INSERT INTO program_regency (program_id, regency_id) SELECT :p, unnest(CAST(:r AS integer[])) "
                    "ON CONFLICT DO NOTHING"), {"p": pid, "r": covered}).rowcount
        return usable

    # 4.-5. households, members, enrolments --------------------------------------------------
    def households(self, plan: Plan) -> None:
        conn = self.conn
        conn.execute(text("""
            CREATE TEMP TABLE demo_household_stage (
                no_kk text, head_nik text, head_name text, address text, rt text, rw text, village_id int,
                desil int, member_count int, source text, source_date date, placement text, regency_code text
            ) ON COMMIT DROP"""))
        _copy(conn, "demo_household_stage",
              ["no_kk", "head_nik", "head_name", "address", "rt", "rw", "village_id", "desil", "member_count",
               "source", "source_date", "placement", "regency_code"], plan.households)
        # Number the rows per (village, placement) BEFORE dropping existing ones, so a
        # partial re-run gives the missing households the points of a full run.
        conn.execute(text("""
            CREATE TEMP TABLE demo_household_todo ON COMMIT DROP AS
            SELECT s.*, row_number() OVER (PARTITION BY village_id, placement ORDER BY no_kk) AS idx
            FROM demo_household_stage s"""))
        conn.execute(text("DELETE FROM demo_household_todo t USING household h WHERE h.no_kk = t.no_kk"))
        missing = conn.execute(text("SELECT count(*) FROM demo_household_todo")).scalar_one()
        if missing:
            # Points: ST_GeneratePoints inside the declared village ('in'), or inside the part
            # of a neighbouring village outside it ('nb': among the villages whose boxes overlap,
            # a touching one first, else an overlapping one; an island takes the village with
            # the nearest box); 'none' keeps NULL. Seeds come from the
            # village code so the same geography gives the same points.
            inserted = conn.execute(text("""
                WITH need AS (
                    SELECT village_id, placement, count(*) AS n
                    FROM demo_household_stage WHERE placement <> 'none' GROUP BY village_id, placement
                ), area AS (
                    SELECT need.village_id, need.placement, need.n,
                           CASE WHEN need.placement = 'in' THEN v.geom ELSE nb.geom END AS g,
                           (replace(v.code, '.', '')::bigint * 7 + CASE need.placement WHEN 'in' THEN 1 ELSE 2 END)
                               % 2147483646 + 1 AS seed
                    FROM need JOIN village v ON v.id = need.village_id
                    LEFT JOIN LATERAL (
                        SELECT ST_CollectionExtract(ST_MakeValid(ST_Difference(c.geom, v.geom)), 3) AS geom
                        FROM (SELECT v2.code, v2.geom, 0 AS far FROM village v2
                              WHERE v2.id <> v.id AND v2.geom && v.geom
                              UNION ALL
                              (SELECT v2.code, v2.geom, 1 FROM village v2 WHERE v2.id <> v.id
                               ORDER BY v2.geom <#> v.geom LIMIT 1)) c
                        WHERE need.placement = 'nb'
                        ORDER BY c.far, ST_Touches(c.geom, v.geom) DESC, ST_Intersects(c.geom, v.geom) DESC, c.code
                        LIMIT 1
                    ) nb ON true
                ), pts AS (
                    SELECT area.village_id, area.placement, d.path[1] AS idx, d.geom
                    FROM area, LATERAL ST_Dump(ST_GeneratePoints(area.g, area.n::int, area.seed::int)) d
                    WHERE area.g IS NOT NULL AND NOT ST_IsEmpty(area.g) AND ST_Area(area.g) > 0
                )
                INSERT INTO household (no_kk, head_nik, head_name, address, rt, rw, village_id, desil,
                                       member_count, location, source, source_date)
                SELECT t.no_kk, t.head_nik, t.head_name, t.address, t.rt, t.rw, t.village_id, t.desil,
                       t.member_count, ST_SetSRID(p.geom, 4326), t.source, t.source_date
                FROM demo_household_todo t
                LEFT JOIN pts p ON p.village_id = t.village_id AND p.placement = t.placement AND p.idx = t.idx
                ORDER BY t.no_kk
                ON CONFLICT (no_kk) DO NOTHING""")).rowcount
            self.created["household"] += inserted

        conn.execute(text("""
            CREATE TEMP TABLE demo_member_stage (no_kk text, nik text, name text, sex text, birth_date date,
                                                 relationship_to_head text) ON COMMIT DROP"""))
        _copy(conn, "demo_member_stage", ["no_kk", "nik", "name", "sex", "birth_date", "relationship_to_head"],
              plan.members)
        self.created["household_member"] += conn.execute(text("""
            INSERT INTO household_member (household_id, nik, name, sex, birth_date, relationship_to_head)
            SELECT h.id, s.nik, s.name, s.sex, s.birth_date, s.relationship_to_head
            FROM demo_member_stage s JOIN household h ON h.no_kk = s.no_kk
            ORDER BY h.id, s.nik
            ON CONFLICT (household_id, nik) DO NOTHING""")).rowcount

        conn.execute(text("""
            CREATE TEMP TABLE demo_enrolment_stage (no_kk text, program_code text, status text,
                                                    benefit_value numeric(18, 2), date date) ON COMMIT DROP"""))
        _copy(conn, "demo_enrolment_stage", ["no_kk", "program_code", "status", "benefit_value", "date"],
              plan.enrolments)
        self.created["enrolment"] += conn.execute(text("""
            INSERT INTO enrolment (household_id, program_id, year, status, benefit_value, date)
            SELECT h.id, p.id, p.fiscal_year, s.status, s.benefit_value, s.date
            FROM demo_enrolment_stage s
            JOIN household h ON h.no_kk = s.no_kk
            JOIN program p ON p.code = s.program_code
            ORDER BY h.id, p.id
            ON CONFLICT (household_id, program_id, year) DO NOTHING""")).rowcount

    # 6. zones -------------------------------------------------------------------------------
    def zones(self) -> None:
        conn = self.conn
        for rcode, (basis, level) in REGENCY_ZONES.items():
            if rcode not in self.regencies:
                continue
            rid, rname = self.regencies[rcode]
            name = regency_zone_name(rname)
            if conn.execute(text("SELECT 1 FROM priority_zone WHERE name = :n AND year = :y"),
                            {"n": name, "y": YEAR}).first():
                continue
            if basis == "desil":
                ids = conn.execute(text("""
                    SELECT v.id FROM village v JOIN district d ON d.id = v.district_id
                    LEFT JOIN household h ON h.village_id = v.id AND h.desil = 1
                    WHERE d.regency_id = :rid
                    GROUP BY v.id, v.code ORDER BY count(h.id) DESC, v.code
                    LIMIT greatest(3, least(20, ceil(0.08 * (SELECT count(*) FROM village v2
                        JOIN district d2 ON d2.id = v2.district_id WHERE d2.regency_id = :rid))::int))"""),
                    {"rid": rid}).scalars().all()
                description = (f"{len(ids)} desa/kelurahan dengan rumah tangga desil 1 terbanyak ({SOURCE}) di "
                               f"{rname}, kabupaten dengan angka kemiskinan di atas rata-rata provinsi.")
            else:
                districts = conn.execute(text("""
                    SELECT d.id, d.name FROM district d JOIN village v ON v.district_id = d.id
                    LEFT JOIN household h ON h.village_id = v.id AND h.desil = 1
                    WHERE d.regency_id = :rid
                    GROUP BY d.id, d.code, d.name ORDER BY count(h.id) DESC, d.code LIMIT 2"""),
                    {"rid": rid}).all()
                ids = conn.execute(text("SELECT id FROM village WHERE district_id = ANY(:d) ORDER BY code"),
                                   {"d": [d.id for d in districts]}).scalars().all()
                description = (f"Kecamatan {' dan '.join(d.name for d in districts)} ({len(ids)} desa/kelurahan) "
                               f"di {rname}: kantong rumah tangga desil 1 terbesar, kabupaten di atas rata-rata "
                               f"kemiskinan provinsi.")
            if not ids:
                continue
            zid = conn.execute(text("""
                INSERT INTO priority_zone (name, year, priority_level, basis, description, regency_id, geom)
                SELECT :name, :year, :level, :basis, :descr, :rid,
                       """ + CLEAN_ZONE_SQL.format(g="ST_Union(geom)") + """
                FROM village WHERE id = ANY(:ids)
                RETURNING id"""), {"name": name, "year": YEAR, "level": level, "basis": basis,
                                   "descr": description, "rid": rid, "ids": list(ids)}).scalar_one()
            self.created["zone_source_village"] += conn.execute(text(
                "INSERT INTO zone_source_village (zone_id, village_id) "
                "SELECT :z, unnest(CAST(:ids AS integer[])) ON CONFLICT DO NOTHING"),
                {"z": zid, "ids": list(ids)}).rowcount
            self.created["priority_zone"] += 1
        for name, rcode, level, description, ring in (COASTAL_BELT, POVERTY_POCKET):
            if rcode is not None and rcode not in self.regencies:
                continue
            if conn.execute(text("SELECT 1 FROM priority_zone WHERE name = :n AND year = :y"),
                            {"n": name, "y": YEAR}).first():
                continue
            wkt = "POLYGON((" + ", ".join(f"{x} {y}" for x, y in ring) + "))"
            # Clip the drawn polygon to the land of its owner (province or regency); on another
            # geography where it misses that land, fall back to a disc inside the owner.
            conn.execute(text("""
                WITH owner AS (
                    SELECT geom FROM regency WHERE id = CAST(:rid AS integer)
                    UNION ALL SELECT geom FROM province WHERE code = '18' AND CAST(:rid AS integer) IS NULL
                ), drawn AS (SELECT ST_GeomFromText(:wkt, 4326) AS g),
                clipped AS (
                    SELECT ST_CollectionExtract(ST_MakeValid(ST_Intersection(drawn.g, owner.geom)), 3) AS g,
                           owner.geom AS owner_geom
                    FROM drawn, owner WHERE owner.geom IS NOT NULL
                ), chosen AS (
                    SELECT CASE WHEN c.g IS NULL OR ST_IsEmpty(c.g) OR ST_Area(c.g) < 1e-6 THEN
                                    CASE WHEN c.owner_geom IS NULL THEN d.g
                                         ELSE ST_CollectionExtract(ST_MakeValid(ST_Intersection(c.owner_geom,
                                              ST_Buffer(ST_PointOnSurface(c.owner_geom), 0.1))), 3) END
                                ELSE c.g END AS g
                    FROM drawn d LEFT JOIN clipped c ON true
                )
                INSERT INTO priority_zone (name, year, priority_level, basis, description, regency_id, geom)
                SELECT :name, :year, :level, 'lainnya', :descr, CAST(:rid AS integer), """
                + CLEAN_ZONE_SQL.format(g="g") + """ FROM chosen
                """), {"name": name, "year": YEAR, "level": level, "descr": description, "wkt": wkt,
                       "rid": self.rid(rcode)})
            self.created["priority_zone"] += 1

    def counts(self) -> dict[str, int]:
        tables = ["agency", "tkpk_institution", "tkpk_member", "tkpk_document", "program", "program_regency",
                  "household", "household_member", "enrolment", "priority_zone", "zone_source_village",
                  "poverty_indicator", "targeting_snapshot", "household_snapshot"]
        sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables)
        return dict(self.conn.execute(text(sql)).all())


@dataclass
class SeedResult:
    created: dict[str, int]
    totals: dict[str, int]
    seconds: float
    notes: list[str]

    def lines(self) -> list[str]:
        width = max(len(t) for t in self.totals)
        out = [f"  {t:<{width}}  {n:>7}  (baru {self.created.get(t, 0)})" for t, n in self.totals.items()]
        return out + [f"  catatan: {n}" for n in self.notes]


def seed_demo_domain(conn: Connection, echo: Callable[[str], None] = print) -> SeedResult:
    """Write the demo domain data that is missing; returns what was created and the totals."""
    started = time.monotonic()
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK})
    seeder = Seeder(conn, echo)
    notes = []
    if not seeder.regencies:
        notes.append("belum ada kabupaten/kota: jalankan dulu 'flask --app run areas load-demo'")
    seeder.agencies_()
    seeder.tkpk()
    seeder.indicators()
    villages = [VillageRow(*row) for row in conn.execute(text("""
        SELECT v.id, v.code, v.name, v.kind, d.code, r.code
        FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
        ORDER BY v.code"""))]
    programs = [p for p in PROGRAMS if (p.agency, p.regency) in seeder.agencies]
    plan = build_plan(villages, programs)
    seeder.programs(plan)
    if villages:
        seeder.households(plan)
        from seeds.demo_snapshots import seed_snapshots
        for label, rows in seed_snapshots(conn).items():
            seeder.created["household_snapshot"] += rows
            notes.append(f"snapshot {label}: {rows} rumah tangga")
        from seeds.demo_duplicates import seed_duplicates
        for label, rows in seed_duplicates(conn).items():
            notes.append(f"duplikat contoh, {label}: {rows}")
        seeder.zones()
    elif seeder.regencies:
        notes.append("belum ada desa/kelurahan: rumah tangga, kepesertaan dan zona dilewati")
    return SeedResult(dict(seeder.created), seeder.counts(), time.monotonic() - started, notes)
