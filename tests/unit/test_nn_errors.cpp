// Bad input to the layers: clear errors that name the layer and what was wrong.
#include <catch2/catch.hpp>

#include <nn_testing.hpp>

using dualgrad::Shape4;
using dualgrad::shape_error;
using dualgrad::value_error;
using namespace dualgrad::nn;
using namespace dgtest::nn;
using Catch::Matchers::Contains;

TEST_CASE("Conv2d rejects an input with the wrong channel count, naming both counts", "[nn][errors]") {
    Conv2d conv(3, 8, 3, 1, 1);
    const Tensor x(1, 4, 5, 5);
    REQUIRE_THROWS_AS(run_forward(conv, {x}), shape_error);
    REQUIRE_THROWS_WITH(run_forward(conv, {x}), Contains("Conv2d(3, 8, kernel_size=(3, 3)") &&
                                                    Contains("input has 4 channels") && Contains("expected 3"));
    const Shape4 s[] = {{1, 4, 5, 5}};
    REQUIRE_THROWS_AS(conv.output_shape(s), shape_error);
}

TEST_CASE("Layers reject empty inputs and inputs smaller than the kernel", "[nn][errors]") {
    const Tensor empty(0, 3, 5, 5);
    REQUIRE_THROWS_WITH(run_forward(Conv2d(3, 8, 3), {empty}), Contains("Conv2d") && Contains("is empty"));
    REQUIRE_THROWS_AS(run_forward(ReLU(), {Tensor(2, 0, 3, 3)}), shape_error);
    REQUIRE_THROWS_WITH(run_forward(Conv2d(3, 8, 7), {Tensor(1, 3, 4, 9)}), Contains("smaller than the dilated kernel"));
    REQUIRE_THROWS_WITH(run_forward(MaxPool2d(3, 2), {Tensor(1, 3, 2, 9)}), Contains("MaxPool2d") && Contains("too small"));
}

TEST_CASE("Channel and feature counts of BatchNorm2d, SE and Linear are checked", "[nn][errors]") {
    REQUIRE_THROWS_WITH(run_forward(BatchNorm2d(8), {Tensor(1, 4, 2, 2)}),
                        Contains("BatchNorm2d(8") && Contains("4 channels") && Contains("expected 8"));
    REQUIRE_THROWS_WITH(run_forward(SqueezeExcitation(32, 8), {Tensor(1, 16, 2, 2)}),
                        Contains("SEModule") && Contains("16 channels") && Contains("expected 32"));
    REQUIRE_THROWS_WITH(run_forward(Linear(2048, 10), {Tensor(1, 1024, 1, 1)}),
                        Contains("Linear(in_features=2048") && Contains("1024 features") && Contains("expected 2048"));
}

TEST_CASE("Arity mismatches are shape errors", "[nn][errors]") {
    const Tensor a(1, 2, 3, 3), b(1, 2, 3, 3);
    REQUIRE_THROWS_WITH(run_forward(Conv2d(2, 2, 1), {a, b}), Contains("takes 1 input, 2 given"));
    REQUIRE_THROWS_WITH(run_forward(Add(), {a}), Contains("Add()") && Contains("takes 2 inputs, 1 given"));
    REQUIRE_THROWS_AS(run_forward(Concat(3), {a, b}), shape_error);
    const Shape4 three[] = {{1, 2, 3, 3}, {1, 2, 3, 3}, {1, 2, 3, 3}};
    REQUIRE_THROWS_AS(Add().output_shape(three), shape_error);
    // Backward with too few gradient slots.
    const Tensor y = run_forward(Add(), {a, b});
    Tensor g;
    std::vector<const Tensor*> ins{&a, &b};
    std::vector<Tensor*> one{&g};
    const std::vector<Shape4> shapes{shape_of(a), shape_of(b)};
    REQUIRE_THROWS_WITH(Add().backward(shapes, ins, y, y, 1, one, ExecContext{1}), Contains("2 gradient slots, 1 given"));
}

TEST_CASE("Add and Concat name the shapes that disagree", "[nn][errors]") {
    REQUIRE_THROWS_WITH(run_forward(Add(), {Tensor(1, 2, 3, 3), Tensor(1, 2, 3, 4)}),
                        Contains("[1, 2, 3, 3]") && Contains("[1, 2, 3, 4]"));
    REQUIRE_THROWS_WITH(run_forward(Concat(2), {Tensor(1, 2, 3, 3), Tensor(1, 5, 4, 3)}),
                        Contains("input 1 has shape [1, 5, 4, 3]"));
}

TEST_CASE("backward checks the cotangent batch shape and T", "[nn][errors]") {
    Conv2d conv(2, 3, 3, 1, 1);
    const Tensor x(2, 2, 4, 4);
    const Tensor y = run_forward(conv, {x});
    const Tensor wrong(4, 3, 4, 4); // 2 samples x T = 3 needs 6
    REQUIRE_THROWS_WITH(run_backward(conv, {x}, y, wrong, 3),
                        Contains("grad_out has shape [4, 3, 4, 4], expected [6, 3, 4, 4]"));
    REQUIRE_THROWS_AS(run_backward(conv, {x}, y, y, 0), value_error);
    REQUIRE_THROWS_AS(run_backward(ReLU(), {x}, Tensor(2, 2, 4, 3), x, 1), shape_error); // wrong forward output
}

TEST_CASE("Bad hyper-parameters and parameter sizes are value errors", "[nn][errors]") {
    REQUIRE_THROWS_AS(Conv2d(0, 3, 3), value_error);
    REQUIRE_THROWS_AS(Conv2d(3, 3, 3, 0), value_error);
    REQUIRE_THROWS_AS(Conv2d(3, 3, 3, 1, -1), value_error);
    REQUIRE_THROWS_WITH(MaxPool2d(3, 2, 2), Contains("at most half of the kernel size"));
    REQUIRE_THROWS_AS(AvgPool2d(2, 2, 2), value_error);
    REQUIRE_THROWS_AS(BatchNorm2d(4, 0.0), value_error);
    REQUIRE_THROWS_AS(Concat(0), value_error);
    REQUIRE_THROWS_AS(Dropout(1.5), value_error);

    Conv2d conv(2, 3, 3);
    conv.weight().resize(5);
    REQUIRE_THROWS_WITH(run_forward(conv, {Tensor(1, 2, 4, 4)}), Contains("parameter 'weight' holds 5 values, expected 54"));
    BatchNorm2d bn(2);
    bn.running_var() = {1, -2};
    REQUIRE_THROWS_WITH(run_forward(bn, {Tensor(1, 2, 4, 4)}), Contains("running_var[1]"));
}
