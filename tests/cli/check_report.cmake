# Renders report.html in headless Chromium: it must load with no console message (errors,
# failed resources) and its DOM must hold the table, the chart and the example pictures.
#   -DCHROMIUM=<exe> -DREPORT=<report.html>
if(NOT EXISTS "${REPORT}")
    message(FATAL_ERROR "${REPORT} does not exist")
endif()
execute_process(COMMAND ${CHROMIUM} --headless=new --no-sandbox --disable-gpu --enable-logging=stderr --v=0
                        --virtual-time-budget=5000 --dump-dom "file://${REPORT}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE dom ERROR_VARIABLE log TIMEOUT 120)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "chromium exited with ${rc}\n${log}")
endif()
if(log MATCHES "CONSOLE")
    message(FATAL_ERROR "console messages while rendering ${REPORT}:\n${log}")
endif()
foreach(part "<table>" "<svg" "<polyline" "data:image/png;base64,")
    string(FIND "${dom}" "${part}" at)
    if(at EQUAL -1)
        message(FATAL_ERROR "the rendered DOM of ${REPORT} has no '${part}'")
    endif()
endforeach()
message(STATUS "report renders with no console message")
