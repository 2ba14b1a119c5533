# DuckDB's C library as an independent Parquet checker for tests and benchmarks.
# scripts/checkers.sh installs it under third_party/npm; it is never linked into the
# product. Defines the imported target cn_duckdb (with an rpath to the library) when
# both libduckdb.so and duckdb.h are present; CN_HAVE_DUCKDB says whether it did.
if(NOT DEFINED CN_NPM_DIR)
  set(CN_NPM_DIR ${CMAKE_SOURCE_DIR}/third_party/npm)
endif()
set(CN_DUCKDB_LIBDIR ${CN_NPM_DIR}/node_modules/@duckdb/node-bindings-linux-x64)
if(TARGET cn_duckdb)
  set(CN_HAVE_DUCKDB ON)
elseif(EXISTS ${CN_DUCKDB_LIBDIR}/libduckdb.so AND EXISTS ${CN_NPM_DIR}/include/duckdb.h)
  add_library(cn_duckdb SHARED IMPORTED GLOBAL)
  set_target_properties(cn_duckdb PROPERTIES
    IMPORTED_LOCATION ${CN_DUCKDB_LIBDIR}/libduckdb.so
    IMPORTED_NO_SONAME OFF
    INTERFACE_SYSTEM_INCLUDE_DIRECTORIES ${CN_NPM_DIR}/include
    INTERFACE_INCLUDE_DIRECTORIES ${CN_NPM_DIR}/include
    INTERFACE_LINK_OPTIONS "-Wl,-rpath,${CN_DUCKDB_LIBDIR}")
  set(CN_HAVE_DUCKDB ON)
else()
  set(CN_HAVE_DUCKDB OFF)
  message(STATUS "DuckDB checker not found under ${CN_NPM_DIR} (run scripts/checkers.sh): "
                 "duckdb_tool and bench_parquet are left out")
endif()
