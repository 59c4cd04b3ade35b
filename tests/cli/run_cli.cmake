# Runs the dualgrad CLI once and checks its exit code and output.
#   -DCLI=<exe> -DARGS=<;-list> -DEXPECT_RC=<n> -DEXPECT=<regex on stdout+stderr> [-DCHECK_FILES=<;-list>]
include(${CMAKE_CURRENT_LIST_DIR}/cli_run.cmake)
foreach(f IN LISTS CHECK_FILES)
    if(NOT EXISTS "${f}")
        message(FATAL_ERROR "dualgrad ${ARGS}: expected output file ${f} is missing\n${all}")
    endif()
endforeach()
