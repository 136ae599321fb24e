# Regenerates the survival-statistics goldens in tests/outcomes/goldens/.
#
# Run from the repository root:   Rscript reference/r/survival_goldens.R
#
# Needs R >= 4.2 with the recommended package `survival` (>= 3.5) and CRAN `cmprsk` (>= 2.2).
# Every output is a plain CSV/JSON file, so the Python tests never need R.
#   data_<name>.csv           the input data (lung, veteran, and random sets drawn here with a fixed seed)
#   km_<name>_<conf>.csv      survfit(): time, n.risk, n.event, n.censor, surv, std.err, lower, upper
#   km_summary_<name>_<conf>.csv  summary(survfit, times = ...)
#   km_median.csv             print(survfit) median and its CI, per data set and conf.type
#   reverse_km.csv            median follow-up by reverse Kaplan-Meier (censoring as the event)
#   cuminc_<name>.csv         cmprsk::cuminc() raw output (time, est, var) for every cause, one group
#   gray_<name>.csv           cmprsk::cuminc()$Tests (Gray's test) by the data set's group column
#   logrank_<name>_<group>.csv  survdiff(): per-group n, observed, expected, and the chi-square
#   cox_<name>.csv            coxph(ties = "efron"): coef, se, z, p, HR and its CI, loglik (null, final)
#   binomial.csv              binom.test() and prop.test(correct = FALSE) intervals
suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
})

out_dir <- file.path("tests", "outcomes", "goldens")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
put <- function(df, file) {
  write.csv(df, file.path(out_dir, file), row.names = FALSE, na = "")
}

# ---- data ------------------------------------------------------------------------------------
lung_df <- survival::lung
lung_df$status <- as.integer(lung_df$status == 2)  # 1 = dead, 0 = censored
# A deterministic second cause for competing risks: deaths at age >= 65 count as cause 2.
lung_df$cause <- ifelse(lung_df$status == 0, 0L, ifelse(lung_df$age >= 65, 2L, 1L))
lung_df$group <- ifelse(lung_df$sex == 1, "male", "female")

vet_df <- survival::veteran
vet_df$celltype <- as.character(vet_df$celltype)
# Veteran has one cause; split it deterministically by prior therapy for the CIF goldens.
vet_df$cause <- ifelse(vet_df$status == 0, 0L, ifelse(vet_df$prior == 10, 2L, 1L))
vet_df$group <- paste0("trt", vet_df$trt)

make_random <- function(seed, n, n_cause, groups, time_max) {
  set.seed(seed)
  x1 <- round(rnorm(n), 3)
  x2 <- rbinom(n, 1, 0.4)
  x3 <- round(runif(n, 20, 70))
  lp <- 0.5 * x1 - 0.7 * x2 + 0.02 * (x3 - 45)
  # Integer times: many ties between events, and between events and censorings.
  t_event <- pmax(1, ceiling(rexp(n, rate = exp(lp) / (time_max / 2))))
  t_cens <- ceiling(runif(n, 1, time_max * 1.5))
  time <- pmin(t_event, t_cens)
  status <- as.integer(t_event <= t_cens)
  cause <- ifelse(status == 1, sample.int(n_cause, n, replace = TRUE), 0L)
  group <- sample(groups, n, replace = TRUE)
  data.frame(time = time, status = status, cause = cause, group = group, x1 = x1, x2 = x2, x3 = x3)
}
random_sets <- list(
  random1 = make_random(101, 150, 2, c("A", "B", "C"), 30),
  random2 = make_random(202, 400, 3, c("A", "B"), 60),
  random3 = make_random(303, 40, 2, c("A", "B"), 8)
)

data_sets <- c(list(lung = lung_df, veteran = vet_df), random_sets)
for (nm in names(data_sets)) put(data_sets[[nm]], paste0("data_", nm, ".csv"))

# ---- Kaplan-Meier ----------------------------------------------------------------------------
summary_times <- list(
  lung = c(0, 100, 182.5, 365, 500, 730, 1000),
  veteran = c(0, 30, 90, 180, 365, 999),
  random1 = c(0, 1, 5, 10.5, 20, 40),
  random2 = c(0, 3, 15, 30, 60, 89),
  random3 = c(0, 1, 2.5, 4, 6, 11)
)
medians <- list()
for (nm in names(data_sets)) {
  d <- data_sets[[nm]]
  for (ct in c("log", "log-log", "plain")) {
    fit <- survfit(Surv(time, status) ~ 1, data = d, conf.type = ct)
    put(data.frame(time = fit$time, n_risk = fit$n.risk, n_event = fit$n.event,
                   n_censor = fit$n.censor, survival = fit$surv, std_err = fit$std.err,
                   lower = fit$lower, upper = fit$upper),
        sprintf("km_%s_%s.csv", nm, ct))
    s <- summary(fit, times = summary_times[[nm]])
    put(data.frame(time = s$time, n_risk = s$n.risk, n_event = s$n.event, survival = s$surv,
                   std_err = s$std.err, lower = s$lower, upper = s$upper),
        sprintf("km_summary_%s_%s.csv", nm, ct))
    tab <- summary(fit)$table
    medians[[length(medians) + 1]] <- data.frame(
      data = nm, conf_type = ct, median = tab[["median"]],
      lower = tab[["0.95LCL"]], upper = tab[["0.95UCL"]])
  }
}
put(do.call(rbind, medians), "km_median.csv")

rev_rows <- list()
for (nm in names(data_sets)) {
  d <- data_sets[[nm]]
  tab <- summary(survfit(Surv(time, 1 - status) ~ 1, data = d))$table
  rev_rows[[nm]] <- data.frame(data = nm, median = tab[["median"]], lower = tab[["0.95LCL"]],
                               upper = tab[["0.95UCL"]])
}
put(do.call(rbind, rev_rows), "reverse_km.csv")

# ---- competing risks: cuminc, Gray's test ------------------------------------------------------
for (nm in names(data_sets)) {
  d <- data_sets[[nm]]
  ci <- cuminc(d$time, d$cause)
  rows <- list()
  for (key in names(ci)) {
    cause <- as.integer(strsplit(key, " ")[[1]][2])
    est <- ci[[key]]$est
    se <- sqrt(ci[[key]]$var)
    # Pointwise 95% limits on the log(-log) scale, as cmprsk's documentation and tidycmprsk give them.
    inside <- est > 0 & est < 1
    step <- qnorm(0.975) * se / (est * log(est))
    rows[[key]] <- data.frame(cause = cause, idx = seq_along(ci[[key]]$time),
                              time = ci[[key]]$time, est = est, var = ci[[key]]$var,
                              lower = ifelse(inside, est^exp(-step), est),
                              upper = ifelse(inside, est^exp(step), est))
  }
  put(do.call(rbind, rows), sprintf("cuminc_%s.csv", nm))

  g <- cuminc(d$time, d$cause, d$group)$Tests
  put(data.frame(cause = as.integer(rownames(g)), stat = g[, "stat"], p_value = g[, "pv"],
                 df = g[, "df"]), sprintf("gray_%s.csv", nm))
}

# ---- log-rank (survdiff) -----------------------------------------------------------------------
logrank_cases <- list(c("lung", "group"), c("veteran", "trt"), c("veteran", "celltype"),
                      c("random1", "group"), c("random2", "group"), c("random3", "group"))
for (case in logrank_cases) {
  d <- data_sets[[case[1]]]
  g <- d[[case[2]]]
  sd <- survdiff(Surv(d$time, d$status) ~ g)
  levels_g <- sub("^g=", "", names(sd$n))
  df <- length(sd$n) - 1
  put(data.frame(group = levels_g, n = as.integer(sd$n), observed = sd$obs, expected = sd$exp,
                 chisq = sd$chisq, df = df, p_value = pchisq(sd$chisq, df, lower.tail = FALSE)),
      sprintf("logrank_%s_%s.csv", case[1], case[2]))
}

# ---- Cox, Efron ties ---------------------------------------------------------------------------
cox_cases <- list(
  lung = c("age", "sex", "ph.ecog", "ph.karno", "wt.loss"),
  veteran = c("trt", "karno", "diagtime", "age", "prior"),
  random1 = c("x1", "x2", "x3"),
  random2 = c("x1", "x2", "x3"),
  random3 = c("x1", "x2")
)
for (nm in names(cox_cases)) {
  covs <- cox_cases[[nm]]
  d <- data_sets[[nm]][, c("time", "status", covs)]
  d <- d[complete.cases(d), ]
  put(d, sprintf("cox_data_%s.csv", nm))
  fit <- coxph(Surv(time, status) ~ ., data = d, ties = "efron")
  s <- summary(fit)$coefficients
  ci <- summary(fit)$conf.int
  put(data.frame(covariate = rownames(s), coef = s[, "coef"], se = s[, "se(coef)"], z = s[, "z"],
                 p = s[, "Pr(>|z|)"], hazard_ratio = s[, "exp(coef)"], hr_lower = ci[, "lower .95"],
                 hr_upper = ci[, "upper .95"], loglik_null = fit$loglik[1],
                 loglik = fit$loglik[2], iterations = fit$iter, n = fit$n, n_event = fit$nevent),
      sprintf("cox_%s.csv", nm))
}

# ---- binomial confidence intervals ---------------------------------------------------------------
bin_rows <- list()
for (n in c(1, 7, 20, 113)) {
  for (k in unique(c(0, 1, floor(n / 3), n - 1, n))) {
    if (k < 0 || k > n) next
    for (cl in c(0.95, 0.90)) {
      ex <- binom.test(k, n, conf.level = cl)$conf.int
      wi <- suppressWarnings(prop.test(k, n, conf.level = cl, correct = FALSE))$conf.int
      bin_rows[[length(bin_rows) + 1]] <- data.frame(
        k = k, n = n, conf_level = cl, exact_lower = ex[1], exact_upper = ex[2],
        wilson_lower = wi[1], wilson_upper = wi[2])
    }
  }
}
put(do.call(rbind, bin_rows), "binomial.csv")

writeLines(sprintf('{"R": "%s", "survival": "%s", "cmprsk": "%s"}', R.version.string,
                   packageVersion("survival"), packageVersion("cmprsk")),
           file.path(out_dir, "versions.json"))
cat("goldens written to", out_dir, "\n")
