# -*- encoding: utf-8 -*-
# stub: acme-tool 1.2.0 ruby lib

Gem::Specification.new do |s|
  s.name = "acme-tool".freeze
  s.version = "1.2.0"

  s.required_rubygems_version = Gem::Requirement.new(">= 0".freeze) if s.respond_to? :required_rubygems_version=
  s.require_paths = ["lib".freeze]
  s.authors = ["Acme Ops".freeze, "Jane Doe".freeze]
  s.date = "2026-12-07"
  s.executables = ["acme-tool".freeze]
  s.files = ["bin/acme-tool".freeze]
  s.homepage = "https://example.com/acme-tool".freeze
  s.licenses = ["MIT".freeze, "Apache-2.0".freeze]
  s.rubygems_version = "3.3.15".freeze
  s.summary = "A tool of Acme's, \"quoted\" and caf\u00E9".freeze

  s.installed_by_version = "3.3.15" if s.respond_to? :installed_by_version
end
