# The make_install test: `make install-files DESTDIR=OUT PREFIX=/usr` from
# SRC with the build in BUILD (what `make install` runs once blixard is
# built; building here could relink the binary under tests that run it)
# puts a blixard there that runs.
file(REMOVE_RECURSE "${OUT}")
execute_process(
  COMMAND make -C "${SRC}" install-files "BUILD=${BUILD}" "DESTDIR=${OUT}" PREFIX=/usr
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "make install failed (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND "${OUT}/usr/bin/blixard" --version RESULT_VARIABLE rc OUTPUT_VARIABLE version)
if(NOT rc EQUAL 0 OR NOT version MATCHES "^blixard ")
  message(FATAL_ERROR "the installed blixard does not run: ${rc} ${version}")
endif()
message(STATUS "installed: ${version}")
