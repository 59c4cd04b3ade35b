// The `dualgrad` command line: the WSOL workflow on real dataset layouts.
// Subcommands are defined in cli/cmd_*.hpp and registered here; every error names the file or
// option and what was wrong, and exits with status 1 (2 for command-line usage errors).
#include <cstdio>
#include <filesystem>
#include <new>

#include <CLI/CLI.hpp>

#include "cmd_layers.hpp"
#include "cmd_merge.hpp"
#include "cmd_score.hpp"
#include "cmd_maps.hpp"
#include "cmd_localize.hpp"
#include "cmd_eval.hpp"

int main(int argc, char** argv) {
    CLI::App app{"dualgrad: weakly supervised object localization (DGL and the CAM family)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "dualgrad 0.1.0");
    dualgrad::cli::add_layers(app);
    dualgrad::cli::add_merge(app);
    dualgrad::cli::add_score(app);
    dualgrad::cli::add_maps(app);
    dualgrad::cli::add_localize(app);
    dualgrad::cli::add_eval(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const dualgrad::error& e) {
        std::fprintf(stderr, "dualgrad: error: %s\n", e.what());
        return 1;
    } catch (const std::filesystem::filesystem_error& e) {
        // Names the paths involved (e.what() holds them).
        std::fprintf(stderr, "dualgrad: error: %s\n", e.what());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "dualgrad: error: out of memory (the inputs or options ask for more memory than this machine has)\n");
        return 1;
    } catch (const std::exception& e) {
        // Every input error is a dualgrad::error naming its input; reaching here is a dualgrad bug.
        std::fprintf(stderr, "dualgrad: error: %s (an internal error: please report it with the command line)\n", e.what());
        return 1;
    }
    return 0;
}
