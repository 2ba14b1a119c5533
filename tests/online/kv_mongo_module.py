"""The MongoDB backend is a module (chronon_mongo.so) loaded on the first mongodb:// open,
so that libmongoc, which initialises itself when it loads (a /dev/shm/mongoc-<pid>
counter file per process), is never in a process that does not use MongoDB.

Checks: neither chronon nor kv_tool needs libmongoc or libbson at load time (readelf);
a kv_tool reading an LMDB store has no libmongoc mapped; one reading a MongoDB store
(CongoDB, started here) has the module and libmongoc mapped and no counter file; a
module that cannot be found gives one clear error naming the path. Exit 77 (skip) when
node or CongoDB is missing, a failure instead when CN_TEST_STRICT=1."""
import os
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("CN_BUILD_DIR", "")
SOURCE = os.environ.get("CN_SOURCE_DIR", "")
CHRONON = os.environ.get("CHRONON_BIN", os.path.join(BUILD, "chronon"))
KV_TOOL = os.path.join(BUILD, "tests", "online", "kv_tool")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kv_mongo_e2e  # noqa: E402


def needed(binary):
    out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "(NEEDED)" in line]


def watch_maps(uri, ds, env=None):
    """Runs kv_tool's watch for a second and returns its /proc maps and whether it had a
    libmongoc counter file, both seen while it ran."""
    p = subprocess.Popen([KV_TOOL, uri, "watch", ds, "3", "1.5"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=env)
    time.sleep(0.7)
    with open(f"/proc/{p.pid}/maps") as f:
        maps = f.read()
    shm = os.path.exists(f"/dev/shm/mongoc-{p.pid}")
    out, _ = p.communicate(timeout=30)
    assert p.returncode == 0, out
    assert "ok" in out, out
    return maps, shm


def main():
    for b in (CHRONON, KV_TOOL):
        libs = needed(b)
        assert libs, f"readelf found no NEEDED entries in {b}"
        bad = [line for line in libs if "mongoc" in line or "bson" in line]
        assert not bad, f"{b} loads libmongoc at start: {bad}"
    assert os.path.exists(os.path.join(BUILD, "chronon_mongo.so")), "module not built next to chronon"

    env = dict(os.environ, CHRONON_MONGO_MODULE="/nonexistent/chronon_mongo.so")
    r = subprocess.run([KV_TOOL, "mongodb://127.0.0.1:1/x", "open"], capture_output=True,
                       text=True, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "the MongoDB backend could not be loaded" in out and "/nonexistent/chronon_mongo.so" in out, out

    with tempfile.TemporaryDirectory(prefix="cn-mongo-module.") as d:
        lmdb = f"lmdb:{d}/online"
        r = subprocess.run([KV_TOOL, lmdb, "load", "DS", "3"], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        maps, _ = watch_maps(lmdb, "DS")
        assert "libmongoc" not in maps and "chronon_mongo" not in maps, "libmongoc loaded for lmdb:"

    proc, port = kv_mongo_e2e.start_server()
    try:
        uri = f"mongodb://127.0.0.1:{port}/module?socketTimeoutMS=60000"
        r = subprocess.run([KV_TOOL, uri, "load", "DS", "3"], capture_output=True, text=True)
        assert r.returncode == 0 and "loaded 3" in r.stdout, r.stdout + r.stderr
        env = {k: v for k, v in os.environ.items() if k != "MONGOC_DISABLE_SHM"}
        maps, shm = watch_maps(uri, "DS", env)
        assert "chronon_mongo.so" in maps and "libmongoc" in maps, "module not loaded for mongodb://"
        assert not shm, "libmongoc made its counter file"
    finally:
        proc.kill()
        proc.wait()
    print("kv_mongo.module: ok")


if __name__ == "__main__":
    main()
