# Reference values for tests/test_attrition.py::test_attrition_model_matches_r_glm.
# Run: Rscript tests/reference/attrition_glm_reference.R
# The data are the 40 hand-built mothers of that test (R_EPDS, R_MODE, R_DEP, R_END); the printed
# coefficient table and Wald intervals are frozen in R_TABLE there. epsilon = 1e-14 so R sits at the
# maximum-likelihood estimate (at the default 1e-8 its SEs are off by ~1e-5 relative).
epds <- c(23, 17, 18, 22, 16, 20, 21, 9, 6, 11, 10, 22, 23, 5, 14, 21, 7, 20, 7, 14, 21, 11, 11,
          10, 19, 10, 24, 13, 14, 15, 16, 16, 15, 24, 21, 20, 19, 17, 11, 24)
mode <- c("group", "one_to_one", "both", "one_to_one", "both", "group", "one_to_one", "one_to_one",
          "group", "one_to_one", "one_to_one", "group", "both", "group", "both", "both", "both",
          "group", "group", "group", "one_to_one", "group", "group", "one_to_one", "both",
          "one_to_one", "one_to_one", "one_to_one", "both", "both", "both", "one_to_one", "both",
          "group", "group", "one_to_one", "group", "both", "group", "one_to_one")
dep <- c(1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1,
         0, 1, 0, 0, 1, 0, 0, 0, 0, 1) == 1
end <- c(1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 1,
         1, 0, 1, 0, 1, 0, 0, 1, 1, 0)
d <- data.frame(end = end, epds = epds, mode = factor(mode, levels = c("one_to_one", "group", "both")),
                dep = dep)
fit <- glm(end ~ epds + mode + dep, family = binomial, data = d,
           control = glm.control(epsilon = 1e-14, maxit = 100))
options(digits = 10)
print(cbind(coef(summary(fit)), confint.default(fit)))
