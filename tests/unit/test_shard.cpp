#include <map>
#include <string>

#include <catch2/catch.hpp>

#include <dualgrad/shard.hpp>

using dualgrad::Shard;

TEST_CASE("Shards partition the images", "[shard]") {
    const auto s = Shard::parse("1/3");
    REQUIRE(s.index == 1);
    REQUIRE(s.count == 3);
    int owned = 0;
    for (int i = 0; i < 30; ++i) owned += s.owns(i);
    REQUIRE(owned == 10);
    REQUIRE(Shard::parse("0/1").owns(17));
}

TEST_CASE("Bad --shard values are named errors", "[shard][errors]") {
    REQUIRE_THROWS_WITH(Shard::parse("3/2"), Catch::Contains("shard index 3 must be in [0, 2)"));
    REQUIRE_THROWS_WITH(Shard::parse("0/0"), Catch::Contains("count 0 must be at least 1"));
    REQUIRE_THROWS_WITH(Shard::parse("a/2"), Catch::Contains("index 'a' is not an integer"));
    REQUIRE_THROWS_WITH(Shard::parse("2"), Catch::Contains("expected k/N"));
}

TEST_CASE("Shard auto reads Slurm and Kubernetes variables", "[shard]") {
    std::map<std::string, std::string> env;
    auto get = [&](const char* k) -> const char* {
        auto it = env.find(k);
        return it == env.end() ? nullptr : it->second.c_str();
    };
    env = {{"SLURM_ARRAY_TASK_ID", "4"}, {"SLURM_ARRAY_TASK_COUNT", "5"}, {"SLURM_ARRAY_TASK_MIN", "1"}};
    auto s = Shard::from_environment(std::nullopt, get);
    REQUIRE((s.index == 3 && s.count == 5));
    env = {{"JOB_COMPLETION_INDEX", "2"}};
    s = Shard::from_environment(4, get);
    REQUIRE((s.index == 2 && s.count == 4));
    REQUIRE_THROWS_WITH(Shard::from_environment(std::nullopt, get), Catch::Contains("needs --shard-count"));
    env = {};
    REQUIRE_THROWS_WITH(Shard::from_environment(4, get), Catch::Contains("neither SLURM_ARRAY_TASK_ID"));
    env = {{"JOB_COMPLETION_INDEX", "9"}};
    REQUIRE_THROWS_WITH(Shard::from_environment(4, get), Catch::Contains("must be in [0, 4)"));
}

TEST_CASE("Shard auto rejects values that overflow or wrap", "[shard][errors]") {
    std::map<std::string, std::string> env;
    auto get = [&](const char* k) -> const char* {
        auto it = env.find(k);
        return it == env.end() ? nullptr : it->second.c_str();
    };
    env = {{"SLURM_ARRAY_TASK_ID", "99999999999999999999"}, {"SLURM_ARRAY_TASK_COUNT", "4"}};
    REQUIRE_THROWS_WITH(Shard::from_environment(std::nullopt, get),
                        Catch::Contains("SLURM_ARRAY_TASK_ID='99999999999999999999' is out of range"));
    // Fits a long long but not an int: would have truncated to a small index.
    env = {{"SLURM_ARRAY_TASK_ID", "4294967298"}, {"SLURM_ARRAY_TASK_COUNT", "4"}};
    REQUIRE_THROWS_WITH(Shard::from_environment(std::nullopt, get), Catch::Contains("is out of range"));
    // ID - MIN overflows an int: 2147483647 - (-2147483648) wraps to -1 in 32 bits.
    env = {{"SLURM_ARRAY_TASK_ID", "2147483647"}, {"SLURM_ARRAY_TASK_MIN", "-2147483648"}, {"SLURM_ARRAY_TASK_COUNT", "4"}};
    REQUIRE_THROWS_WITH(Shard::from_environment(std::nullopt, get), Catch::Contains("shard index 4294967295 must be in [0, 4)"));
    // An index below the array's minimum.
    env = {{"SLURM_ARRAY_TASK_ID", "0"}, {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_COUNT", "4"}};
    REQUIRE_THROWS_WITH(Shard::from_environment(std::nullopt, get),
                        Catch::Contains("SLURM_ARRAY_TASK_ID=0, SLURM_ARRAY_TASK_MIN=1): the shard index -1 must be in [0, 4)"));
    env = {{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_COUNT", "0"}};
    REQUIRE_THROWS_WITH(Shard::from_environment(std::nullopt, get), Catch::Contains("shard count 0 must be at least 1"));
    env = {{"SLURM_ARRAY_TASK_ID", ""}, {"SLURM_ARRAY_TASK_COUNT", "4"}};
    REQUIRE_THROWS_WITH(Shard::from_environment(std::nullopt, get), Catch::Contains("SLURM_ARRAY_TASK_ID='' is not an integer"));
    env = {{"SLURM_ARRAY_TASK_ID", "3 "}, {"SLURM_ARRAY_TASK_COUNT", "4"}};
    REQUIRE_THROWS_WITH(Shard::from_environment(std::nullopt, get), Catch::Contains("is not an integer"));
}
