"""Prints where the app is served and who can log in (demo mode)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import config  # noqa: E402

port = config.SINERGI_PORT
print("\n" + "=" * 64)
print(f"  Sinergi: http://127.0.0.1:{port}/")
if config.SINERGI_ENV == "demo":
    print(f"  Demo logins (password: {config.SINERGI_DEMO_PASSWORD}):")
    print("    admin     Admin")
    print("    bappeda   Bappeda Provinsi")
    print("    pimpinan  Pimpinan")
    print("    op1801 ... op1813, op1871, op1872   Operator TKPK of that kabupaten/kota")
    print("    opd_dinsos         Petugas OPD, Dinas Sosial Provinsi")
    print("    opd_dinkop_lamtim  Petugas OPD, Dinas Koperasi dan UMKM Lampung Timur")
print("  Stop the server with Ctrl+C, the database with `make stop`.")
print("=" * 64 + "\n", flush=True)
