frontend www
  bind *:${listen}
  default_backend app

backend app
%{ for i, b in backends ~}
  server app${i} ${b} check
%{ endfor ~}
