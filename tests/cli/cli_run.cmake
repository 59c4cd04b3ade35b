# Shared by the CLI test scripts: runs ${CLI} with ${ARGS} (a command line) and fails unless the
# exit code is ${EXPECT_RC} and stdout+stderr match ${EXPECT} (when defined). Leaves the output
# in `all` for the caller.
separate_arguments(_args UNIX_COMMAND "${ARGS}")
execute_process(COMMAND ${CLI} ${_args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(all "${out}${err}")
if(NOT rc EQUAL EXPECT_RC)
    message(FATAL_ERROR "dualgrad ${ARGS}: exit code ${rc}, expected ${EXPECT_RC}\n${all}")
endif()
if(DEFINED EXPECT AND NOT all MATCHES "${EXPECT}")
    message(FATAL_ERROR "dualgrad ${ARGS}: output does not match '${EXPECT}'\n${all}")
endif()
