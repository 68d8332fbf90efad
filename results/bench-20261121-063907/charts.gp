# hyplog bench charts: run `gnuplot charts.gp` in this directory
set datafile separator whitespace
set key outside right top
set grid
do for [fmt in "png svg"] {
  if (fmt eq "png") { set terminal pngcairo size 1000,600 noenhanced } else { set terminal svg size 1000,600 noenhanced }
  set output sprintf('throughput_vs_cpus.%s', fmt)
  set title 'Trap-level throughput vs CPUs (2 cores: 4 CPUs oversubscribe)'
  set xlabel 'CPUs'; set ylabel 'traps/s (median of reps)'; set logscale y; set xtics (1,2,4)
  plot for [c=2:10] 'throughput.dat' using 1:c with linespoints title columnheader(c)
  unset logscale y; set xtics autofreq
  set output sprintf('overhead_ratios.%s', fmt)
  set title 'Overhead ratios, 2 CPUs (time/op vs per-object ticket locks, logs on)'
  set style data histograms; set style histogram clustered gap 1; set style fill solid 0.8 border -1
  set xlabel ''; set ylabel 'time per trap / baseline'; set xtics rotate by -30
  plot 'ratios.dat' using 2:xtic(1) title 'logs on / logs off', '' using 3 title 'mcs / ticket', '' using 4 title 'mutex / ticket', '' using 5 title 'global lock / per-object'
  set xtics norotate; set style data linespoints
  set output sprintf('uncontended.%s', fmt)
  set title 'Uncontended transitions, 1 CPU (ns/op)'; set ylabel 'ns/op'; set xtics rotate by -30
  set style data histograms; set style histogram clustered gap 1
  plot 'uncontended.dat' using 2:xtic(1) title 'logs on', '' using 3 title 'logs off', '' using 5 title 'ck ticket lock+unlock'
  set xtics norotate; set style data linespoints
  set output sprintf('replay_vs_log.%s', fmt)
  set title 'Replay vs log length'; set xlabel 'records in the log'; set ylabel 'M records/s'
  set y2label 'seconds'; set y2tics; set ytics nomirror; set logscale x
  plot 'replay.dat' using 1:2 with linespoints title 'Cal<Obj> delta replay (M rec/s)', '' using 1:3 with linespoints title 'CalStateH (M rec/s)', '' using 1:5 axes x1y2 with linespoints title 'check time (s, right axis)'
  unset logscale x; unset y2tics; unset y2label; set ytics mirror
  set output sprintf('fairness.%s', fmt)
  set title 'Fairness: per-thread acquisitions (min/mean/max)'; set xlabel ''; set ylabel 'acquisitions/thread'
  set xtics rotate by -30; set style data histograms; set style histogram clustered gap 1
  plot 'fairness.dat' using 2:xtic(1) title 'min', '' using 3 title 'mean', '' using 4 title 'max'
  set xtics norotate; set style data linespoints
}
