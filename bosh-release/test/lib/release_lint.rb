# frozen_string_literal: true

# Structural checks of a BOSH release directory, including the defects `bosh create-release`
# lets through (missing monit, properties without descriptions, link exports of undeclared
# properties, unused templates, ERB syntax errors), and a check that deployment manifests
# and ops files only set properties the job specs declare (BOSH drops the others silently).
# Standard library only.
require 'erb'
require 'yaml'
require_relative 'template_renderer'

module ReleaseTest
  module Lint
    module_function

    # Every problem found in the release at `dir`, as strings naming the file.
    def release(dir)
      problems = []
      final = load_yaml(File.join(dir, 'config', 'final.yml'), problems)
      problems << 'config/final.yml: no name' unless final.is_a?(Hash) && (final['name'] || final['final_name'])
      blobs = load_yaml(File.join(dir, 'config', 'blobs.yml'), problems) || {}
      problems << 'config/blobs.yml: must be a mapping' unless blobs.is_a?(Hash)
      blobs = {} unless blobs.is_a?(Hash)

      packages = Dir.children(File.join(dir, 'packages')).sort
      packages.each { |pkg| problems.concat(package(dir, pkg, packages, blobs)) }
      Dir.children(File.join(dir, 'jobs')).sort.each { |job| problems.concat(job(dir, job, packages)) }
      problems
    end

    def package(dir, pkg, packages, blobs)
      problems = []
      pdir = File.join(dir, 'packages', pkg)
      return [] if File.exist?(File.join(pdir, 'spec.lock')) # vendored: name + fingerprint only

      spec = load_yaml(File.join(pdir, 'spec'), problems)
      return problems unless spec.is_a?(Hash)

      problems << "packages/#{pkg}/spec: name #{spec['name'].inspect} differs from the directory name" unless spec['name'] == pkg
      problems << "packages/#{pkg}: no packaging script" unless File.file?(File.join(pdir, 'packaging'))
      (spec['dependencies'] || []).each do |d|
        problems << "packages/#{pkg}/spec: depends on unknown package #{d}" unless packages.include?(d)
      end
      (spec['files'] || []).each do |pattern|
        in_src = !Dir.glob(pattern, base: File.join(dir, 'src')).empty?
        in_blobs = blobs.keys.any? { |k| File.fnmatch?(pattern, k, File::FNM_PATHNAME) }
        next if in_src || in_blobs

        problems << "packages/#{pkg}/spec: files pattern #{pattern} matches nothing in src/ or config/blobs.yml " \
                    '(run scripts/add-blobs.sh)'
      end
      problems
    end

    def job(dir, job, packages)
      problems = []
      jdir = File.join(dir, 'jobs', job)
      spec = load_yaml(File.join(jdir, 'spec'), problems)
      return problems unless spec.is_a?(Hash)

      problems << "jobs/#{job}/spec: name #{spec['name'].inspect} differs from the directory name" unless spec['name'] == job
      monit = File.join(jdir, 'monit')
      if File.file?(monit)
        problems.concat(erb_syntax(monit, "jobs/#{job}/monit"))
      else
        problems << "jobs/#{job}: no monit file (write an empty one for a job without processes)"
      end

      templates = spec['templates'] || {}
      problems << "jobs/#{job}/spec: templates must be a mapping" unless templates.is_a?(Hash)
      templates = {} unless templates.is_a?(Hash)
      templates.each_key do |src|
        path = File.join(jdir, 'templates', src)
        if File.file?(path)
          problems.concat(erb_syntax(path, "jobs/#{job}/templates/#{src}"))
        else
          problems << "jobs/#{job}/spec: template #{src} does not exist"
        end
      end
      tdir = File.join(jdir, 'templates')
      if File.directory?(tdir)
        Dir.glob('**/*', base: tdir).select { |f| File.file?(File.join(tdir, f)) }.each do |f|
          problems << "jobs/#{job}/templates/#{f}: not listed in the spec's templates" unless templates.key?(f)
        end
      end
      templates.values.group_by(&:itself).each do |dest, same|
        problems << "jobs/#{job}/spec: destination #{dest} is used by #{same.size} templates" if same.size > 1
      end

      (spec['packages'] || []).each do |p|
        problems << "jobs/#{job}/spec: unknown package #{p}" unless packages.include?(p)
      end
      properties = spec['properties'] || {}
      properties.each do |name, definition|
        unless definition.is_a?(Hash) && definition['description'].is_a?(String) && !definition['description'].strip.empty?
          problems << "jobs/#{job}/spec: property #{name} has no description"
        end
      end
      (spec['provides'] || []).each do |link|
        (link['properties'] || []).each do |prop|
          problems << "jobs/#{job}/spec: link #{link['name']} exports undeclared property #{prop}" unless properties.key?(prop)
        end
      end
      problems
    end

    # Compiles the Ruby that ERB generates for a template (trim mode '-') without running it.
    def erb_syntax(path, label)
      src = ERB.new(File.read(path), trim_mode: '-').src
      RubyVM::InstructionSequence.compile(src, label)
      []
    rescue SyntaxError => e
      ["#{label}: ERB syntax error: #{e.message.lines.first.strip}"]
    end

    # Problems with the properties a manifest (or ops file) sets under this release's jobs.
    def manifest(path, release_dir)
      problems = []
      release_name = YAML.safe_load(File.read(File.join(release_dir, 'config', 'final.yml')))['name']
      doc = YAML.safe_load(File.read(path), aliases: true)
      label = File.basename(path)
      settings = [] # [job name, property path, value, where]
      if doc.is_a?(Hash)
        (doc['instance_groups'] || []).each do |ig|
          (ig['jobs'] || []).each do |j|
            next unless j['release'] == release_name

            settings << [j['name'], nil, j['properties'] || {}, "instance group #{ig['name']}"]
          end
        end
      elsif doc.is_a?(Array) # an ops file
        doc.each do |op|
          next unless op.is_a?(Hash) && op['type'] == 'replace' && op['path'].to_s.include?('/properties')

          m = op['path'].match(%r{/jobs/name=([^/]+)(?:/[^/]*)*?/properties\??(/.*)?\z})
          next unless m

          segments = (m[2] || '').split('/').reject(&:empty?).map { |s| s.delete_suffix('?') }
          settings << [m[1], segments.join('.'), op['value'], "op #{op['path']}"]
        end
      end
      settings.each do |job_name, prefix, value, where|
        jdir = File.join(release_dir, 'jobs', job_name)
        unless File.directory?(jdir)
          # An ops file may address another release's job; manifests name the release.
          problems << "#{label} (#{where}): job #{job_name} is not in this release" if doc.is_a?(Hash)
          next
        end
        declared = Job.new(release_dir, job_name).property_names
        paths = if value.is_a?(Hash) && !value.empty?
                  ReleaseTest.leaf_paths(value, prefix)
                else
                  [prefix].compact
                end
        paths.reject { |pth| ReleaseTest.declared?(pth, declared) }.each do |pth|
          problems << "#{label} (#{where}): property #{pth} is not declared in jobs/#{job_name}/spec; BOSH would drop it"
        end
      end
      problems
    end

    def load_yaml(path, problems)
      YAML.safe_load(File.read(path), aliases: true)
    rescue Errno::ENOENT
      problems << "#{path}: missing"
      nil
    rescue Psych::SyntaxError => e
      problems << "#{path}: invalid YAML: #{e.message}"
      nil
    end
  end
end
