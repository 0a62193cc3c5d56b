# frozen_string_literal: true

# Renders a job's ERB templates the way the BOSH director does, without a director:
# the job spec decides which properties exist, spec defaults fill in unset ones, and
# templates see p(), if_p(), link(), if_link(), spec, name and index. Standard library only.
#
# Usage:
#   job = ReleaseTest::Job.new('bosh-release', 'broker')
#   text = job.render('config/broker.yml', properties, links: { 'credhub' => {...} })
require 'erb'
require 'ostruct'
require 'yaml'

module ReleaseTest
  # p('name') found neither a value nor a spec default.
  class UnknownProperty < StandardError; end
  # A template asked for a link the job does not consume, or that was not supplied.
  class UnknownLink < StandardError; end
  # The test supplied a property that the job spec does not declare (BOSH would drop it).
  class UndeclaredProperty < StandardError; end

  # Looks up a dotted name in nested hashes; nil when any step is missing.
  def self.dig(hash, name)
    name.split('.').reduce(hash) { |h, k| h.is_a?(Hash) ? h[k] : nil }
  end

  # Every dotted key path of the leaves of a nested hash: {a: {b: 1}} -> ["a.b"].
  def self.leaf_paths(hash, prefix = nil)
    hash.flat_map do |k, v|
      path = prefix ? "#{prefix}.#{k}" : k.to_s
      v.is_a?(Hash) && !v.empty? ? leaf_paths(v, path) : [path]
    end
  end

  # True when a manifest key path is covered by the declared property names: it is one of
  # them, or lies inside one (a hash-valued property such as service_catalog.metadata).
  def self.declared?(path, declared_names)
    declared_names.any? { |n| path == n || path.start_with?("#{n}.") }
  end

  # A job of the release: its spec and templates.
  class Job
    attr_reader :name, :spec, :dir

    def initialize(release_dir, name)
      @dir = File.join(release_dir, 'jobs', name)
      @name = name
      @spec = YAML.safe_load(File.read(File.join(@dir, 'spec')))
    end

    def property_names
      (spec['properties'] || {}).keys
    end

    # The template source whose destination (or source file name) is `template`.
    def template_source(template)
      templates = spec['templates'] || {}
      src = templates.key(template) || (templates.key?(template) ? template : nil)
      raise ArgumentError, "job #{name} has no template #{template}" unless src

      File.join(dir, 'templates', src)
    end

    # The properties a template sees: only declared names, each the manifest value or else
    # the spec default (as the director binds them). Undeclared input is an error here,
    # because BOSH would silently drop it.
    def effective_properties(manifest_properties)
      manifest_properties = manifest_properties || {}
      undeclared = ReleaseTest.leaf_paths(manifest_properties).reject { |pth| ReleaseTest.declared?(pth, property_names) }
      unless undeclared.empty?
        raise UndeclaredProperty, "properties not declared in jobs/#{name}/spec: #{undeclared.join(', ')}"
      end

      result = {}
      (spec['properties'] || {}).each do |prop, definition|
        value = ReleaseTest.dig(manifest_properties, prop)
        value = deep_copy(definition['default']) if value.nil? && definition.is_a?(Hash)
        keys = prop.split('.')
        target = keys[0..-2].reduce(result) { |h, k| h[k] ||= {} }
        target[keys.last] = deep_copy(value)
      end
      result
    end

    def render(template, manifest_properties = {}, links: {}, instance: {})
      context = Context.new(self, effective_properties(manifest_properties), links, instance)
      source = File.read(template_source(template))
      erb = ERB.new(source, trim_mode: '-')
      erb.filename = template_source(template)
      erb.result(context.template_binding)
    end

    # The monit file is an ERB template too.
    def render_monit(manifest_properties = {}, links: {}, instance: {})
      context = Context.new(self, effective_properties(manifest_properties), links, instance)
      ERB.new(File.read(File.join(dir, 'monit')), trim_mode: '-').result(context.template_binding)
    end

    private

    def deep_copy(value)
      Marshal.load(Marshal.dump(value))
    end
  end

  # The object templates are evaluated in.
  class Context
    def initialize(job, properties, links, instance)
      @job = job
      @properties = properties
      @links = links
      @spec = OpenStruct.new({
        'name' => 'broker', 'index' => 0, 'id' => 'b1c1d1e1-0000-4000-8000-000000000001',
        'az' => 'z1', 'address' => '10.0.0.10', 'ip' => '10.0.0.10', 'deployment' => 'on-demand-broker',
        'bootstrap' => true, 'networks' => OpenStruct.new('default' => OpenStruct.new('ip' => '10.0.0.10')),
      }.merge(instance))
    end

    def template_binding
      binding
    end

    attr_reader :spec

    def name
      @spec.name
    end

    def index
      @spec.index
    end

    # p('a.b'), p('a.b', fallback), p(['new', 'old'], fallback).
    def p(*args)
      names = Array(args[0])
      names.each do |n|
        value = ReleaseTest.dig(@properties, n)
        return value unless value.nil?
      end
      return args[1] if args.length > 1

      raise UnknownProperty, "Can't find property '#{names.join("' or '")}'"
    end

    def if_p(*names)
      values = names.map { |n| ReleaseTest.dig(@properties, n) }
      return InactiveBranch.new(self) if values.any?(&:nil?)

      yield(*values)
      ActiveBranch.new
    end

    def link(name)
      declared = (@job.spec['consumes'] || []).map { |c| c['name'] }
      raise UnknownLink, "job #{@job.name} does not consume a link named '#{name}'" unless declared.include?(name)
      raise UnknownLink, "Can't find link '#{name}'" unless @links.key?(name)

      Link.new(name, @links[name])
    end

    def if_link(name)
      declared = (@job.spec['consumes'] || []).map { |c| c['name'] }
      raise UnknownLink, "job #{@job.name} does not consume a link named '#{name}'" unless declared.include?(name)
      return InactiveBranch.new(self) unless @links.key?(name)

      yield Link.new(name, @links[name])
      ActiveBranch.new
    end
  end

  # Result of an if_p/if_link whose block ran: else branches do nothing.
  class ActiveBranch
    def else; end

    def else_if_p(*_names)
      self
    end
  end

  # Result of an if_p/if_link whose block did not run.
  class InactiveBranch
    def initialize(context)
      @context = context
    end

    def else
      yield
    end

    def else_if_p(*names, &block)
      @context.if_p(*names, &block)
    end
  end

  # A consumed link: {'properties' => {...}, 'instances' => [{'address' => ...}], 'address' => ...}.
  class Link
    attr_reader :name

    def initialize(name, data)
      @name = name
      @data = data
    end

    def p(*args)
      names = Array(args[0])
      names.each do |n|
        value = ReleaseTest.dig(@data['properties'] || {}, n)
        return value unless value.nil?
      end
      return args[1] if args.length > 1

      raise UnknownProperty, "Can't find link property '#{names.join("' or '")}' in link '#{@name}'"
    end

    def if_p(*names)
      values = names.map { |n| ReleaseTest.dig(@data['properties'] || {}, n) }
      return InactiveBranch.new(self) if values.any?(&:nil?)

      yield(*values)
      ActiveBranch.new
    end

    def instances
      (@data['instances'] || []).each_with_index.map do |i, n|
        OpenStruct.new({ 'index' => n, 'id' => "instance-#{n}", 'az' => 'z1', 'name' => @name,
                         'bootstrap' => n.zero? }.merge(i))
      end
    end

    def address
      @data.fetch('address') { raise UnknownLink, "link '#{@name}' has no address in this test" }
    end
  end
end
